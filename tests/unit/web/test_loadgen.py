"""``shopsys load`` against the real web app (with fake Kafka) served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import uvicorn
from typer.testing import CliRunner

from shopsys.cli import app as cli
from shopsys.devtools.ports import free_port
from shopsys.events import PurchaseCancelled, PurchasePlaced
from shopsys.loadgen.endpoints import MixError, parse_mix
from shopsys.loadgen.engine import LoadError, LoadPlan, run_load
from shopsys.loadgen.http import Answer
from shopsys.loadgen.stats import Recorder, format_summary, percentile
from shopsys.web.app import create_app
from shopsys.web.services import WebServices
from tests.support.polling import eventually
from tests.unit.web.conftest import FakePublisher, FakeReader


@dataclass
class Served:
    url: str
    publisher: FakePublisher


@pytest.fixture
def served() -> Iterator[Served]:
    publisher = FakePublisher()
    reader = FakeReader(publisher)
    app = create_app(
        lambda metrics: WebServices(publisher=publisher, reader=reader, metrics=metrics)
    )
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, lifespan="on", timeout_keep_alive=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    eventually(lambda: server.started or None, timeout=10, every=0.02, what="uvicorn to start")
    try:
        yield Served(f"http://127.0.0.1:{port}", publisher)
    finally:
        server.should_exit = True
        thread.join(10)


def test_parse_mix() -> None:
    mix = parse_mix("purchase=3, history=1")
    assert [endpoint.name for endpoint in mix.endpoints] == ["purchase", "history"]
    assert mix.weights == (3.0, 1.0)
    assert mix.needs_catalog
    assert mix.describe() == "purchase 75%, history 25%"
    assert not parse_mix("products").needs_catalog
    for bad in ("", "nope=1", "purchase=x", "purchase=-1", "purchase=0", "buy,buy"):
        with pytest.raises(MixError):
            parse_mix(bad)


def test_percentiles_and_summary() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.99) == 99
    assert percentile([], 0.99) == 0
    recorder = Recorder()
    for status, seconds in (("202", 0.010), ("202", 0.020), ("503", 0.030), ("timeout", 1.0)):
        recorder.record("purchase", status, seconds)
    summary = recorder.summary(2.0)
    assert summary.requests == 4
    assert summary.requests_per_s == 2.0
    assert summary.failures == 2
    assert summary.statuses == {"202": 2, "503": 1, "timeout": 1}
    assert list(summary.latencies_s) == [0.010, 0.020, 0.030, 1.0]
    assert "latencies_s" not in summary.as_dict()  # --json prints the percentiles only
    text = format_summary(summary)
    assert "2.0 req/s" in text
    assert "503: 1" in text


def test_a_503_without_retry_after_is_counted_apart() -> None:
    assert Answer(503, retry_after=True).outcome == "503"
    assert Answer(503, retry_after=False).outcome == "503 without Retry-After"
    assert Answer(429, retry_after=False).outcome == "429 without Retry-After"
    assert Answer(500, retry_after=False).outcome == "500"


def test_kafka_down_gives_503_with_retry_after(served: Served) -> None:
    served.publisher.failure = "broker down"
    plan = LoadPlan(
        base_url=served.url, mix=parse_mix("purchase=1"), duration=0.5, concurrency=2, seed=1
    )
    summary = asyncio.run(run_load(plan))
    assert set(summary.statuses) == {"503"}, summary.statuses


def test_closed_loop_against_the_app(served: Served) -> None:
    plan = LoadPlan(
        base_url=served.url,
        mix=parse_mix("purchase=2,products=1,history=1,buy=1,compat-history=1"),
        duration=1.0,
        concurrency=4,
        users=5,
        seed=1,
    )
    progress = []
    summary = asyncio.run(run_load(plan, on_progress=progress.append))
    assert summary.requests > 20
    assert summary.failures == 0
    assert set(summary.statuses) <= {"200", "202"}
    assert set(summary.endpoints) == {"purchase", "products", "history", "buy", "compat-history"}
    assert (
        len(served.publisher.published) == summary.endpoints["purchase"] + summary.endpoints["buy"]
    )
    assert progress, "a progress snapshot every interval"
    assert {event.user_id for event, _ in served.publisher.published} <= {
        f"load-user-{i:05d}" for i in range(5)
    }


def test_cancels_take_purchases_this_run_bought(served: Served) -> None:
    plan = LoadPlan(
        base_url=served.url,
        mix=parse_mix("purchase=2,cancel=1"),
        duration=1.0,
        concurrency=1,  # one client: each cancel follows the 202 of what it cancels
        users=3,
        seed=2,
    )
    summary = asyncio.run(run_load(plan))
    assert summary.failures == 0
    assert summary.endpoints["cancel"] > 5
    waiting: list[tuple[str, uuid.UUID]] = []  # bought, not cancelled yet, oldest first
    bought, cancels = set(), 0
    for event, _ in served.publisher.published:  # one client: in the order sent
        key = (event.user_id, event.purchase_id)
        if isinstance(event, PurchasePlaced):
            waiting.append(key)
            bought.add(key)
        else:
            assert isinstance(event, PurchaseCancelled)
            cancels += 1
            if waiting:
                assert key == waiting.pop(0), "the oldest purchase not cancelled yet"
            else:
                assert key not in bought, "with nothing to cancel, one that does not exist"
    assert cancels == summary.endpoints["cancel"]


def test_open_loop_keeps_the_rate_and_survives_idle_connections(served: Served) -> None:
    plan = LoadPlan(base_url=served.url, mix=parse_mix("products"), duration=1.0, rate=40)
    summary = asyncio.run(run_load(plan))
    assert 35 <= summary.requests <= 41
    assert summary.statuses == {"200": summary.requests}
    # slower than the server's 1 s keep-alive: reused connections are closed under us
    slow = LoadPlan(base_url=served.url, mix=parse_mix("products"), duration=2.0, rate=0.7)
    summary = asyncio.run(run_load(slow))
    assert summary.statuses == {"200": summary.requests}


def test_open_loop_drops_instead_of_piling_up(served: Served) -> None:
    served.publisher.delay = 0.5
    plan = LoadPlan(
        base_url=served.url, mix=parse_mix("purchase"), duration=1.0, rate=50, max_in_flight=5
    )
    summary = asyncio.run(run_load(plan))
    assert summary.dropped > 20
    assert summary.requests <= 15


def test_unreachable_server() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(LoadError, match="cannot reach"):
        asyncio.run(run_load(LoadPlan(base_url=url, mix=parse_mix("purchase"), duration=0.5)))
    plan = LoadPlan(base_url=url, mix=parse_mix("products"), duration=0.3, concurrency=2)
    summary = asyncio.run(run_load(plan))
    assert set(summary.statuses) == {"connect_error"}


def test_cli_prints_a_json_summary(served: Served) -> None:
    result = CliRunner().invoke(
        cli,
        ["load", "--url", served.url, "--duration", "1", "--concurrency", "2", "--json", "--quiet"],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["requests"] > 0
    assert set(summary["latency_ms"]) == {"p50", "p95", "p99", "max"}


def test_cli_rejects_a_bad_mix_and_fails_without_a_server() -> None:
    bad = CliRunner().invoke(cli, ["load", "--mix", "teleport=1"])
    assert bad.exit_code == 2
    assert "unknown endpoint" in bad.output
    down = CliRunner().invoke(
        cli, ["load", "--url", f"http://127.0.0.1:{free_port()}", "--duration", "0.5"]
    )
    assert down.exit_code == 1
    assert "cannot reach" in down.output
