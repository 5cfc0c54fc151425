"""SIGTERM: readiness turns false first, then the server's own handler drains."""

from __future__ import annotations

import os
import signal
from types import FrameType

import pytest

from shopsys.web.shutdown import run_before_sigterm
from tests.unit.web.conftest import WebUnderTest


def test_sigterm_runs_our_hook_then_the_previous_handler() -> None:
    calls: list[str] = []

    def previous(_signum: int, _frame: FrameType | None) -> None:
        calls.append("server")

    original = signal.signal(signal.SIGTERM, previous)
    try:
        undo = run_before_sigterm(lambda: calls.append("readiness off"))
        os.kill(os.getpid(), signal.SIGTERM)
        assert calls == ["readiness off", "server"]
        undo()
        assert signal.getsignal(signal.SIGTERM) is previous
    finally:
        signal.signal(signal.SIGTERM, original)


@pytest.mark.anyio
async def test_readiness(web: WebUnderTest) -> None:
    assert (await web.client.get("/readyz")).json() == {"status": "ready"}
    web.publisher.ready = False  # Kafka unreachable: still ready, purchases answer 503
    still_ready = await web.client.get("/readyz")
    assert (still_ready.status_code, still_ready.json()) == (200, {"status": "ready"})
    assert "shopsys_web_kafka_reachable 0.0" in (await web.client.get("/metrics")).text
    web.publisher.ready = True
    assert "shopsys_web_kafka_reachable 1.0" in (await web.client.get("/metrics")).text
    web.services[0].begin_shutdown()
    stopping = await web.client.get("/readyz")
    assert stopping.status_code == 503
    assert stopping.json() == {"status": "shutting down"}
    assert (await web.client.get("/healthz")).status_code == 200


@pytest.mark.anyio
async def test_lifespan_end_closes_the_publisher(web: WebUnderTest) -> None:
    assert not web.publisher.closed
    await web.client.aclose()
    # the fixture's lifespan exit flushes; simulate by closing the services directly
    await web.services[0].close()
    assert web.publisher.closed
