"""The web producer supervised: a dead delivery thread or a fatal librdkafka error turns the
pod unready and not alive, says why in the log, and no purchase is produced after it."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

import pytest
from confluent_kafka import KafkaError

from shopsys.events import PurchasePlaced, purchase_placed
from shopsys.kafka.producer import KafkaEventPublisher, PublishError
from shopsys.models import Product
from shopsys.settings import KafkaSettings
from tests.unit.web.conftest import WebUnderTest

pytestmark = pytest.mark.anyio

NOWHERE = KafkaSettings(bootstrap_servers="127.0.0.1:9")  # no broker: nothing is sent
MUG = Product(id="p-001", name="Mug", price_cents=1250)


class _PollFails:
    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.produced = 0

    def poll(self, _timeout: float) -> int:
        raise RuntimeError("boom in poll")

    def produce(self, *args: object, **kwargs: object) -> None:
        self.produced += 1
        self.inner.produce(*args, **kwargs)  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self.inner)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def _purchase() -> PurchasePlaced:
    return purchase_placed(
        purchase_id=uuid.uuid4(), user_id="ann", username=None, product=MUG, quantity=1
    )


def _wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


async def test_a_dead_delivery_thread_is_a_problem_and_refuses_publishes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    publisher = KafkaEventPublisher(NOWHERE, publish_timeout=1.0)
    excepthook = threading.excepthook
    threading.excepthook = lambda _args: None  # the thread's death is the point here
    try:
        with caplog.at_level(logging.ERROR, logger="shopsys.librdkafka"):
            failing = _PollFails(publisher._producer)
            publisher._producer = failing  # type: ignore[assignment]
            _wait_for(lambda: not publisher._poller.is_alive())
            problem = publisher.problem()
            assert problem is not None
            assert "delivery thread died: RuntimeError: boom in poll" in problem
            with pytest.raises(PublishError, match="delivery thread died"):
                await publisher.publish(_purchase())
        # Nothing produced after it. (The queue's length would also count librdkafka's own
        # events, such as the connection error no thread serves any more.)
        assert failing.produced == 0
        assert any("must restart" in r.getMessage() for r in caplog.records)
    finally:
        threading.excepthook = excepthook
        publisher._producer = publisher._producer.inner  # type: ignore[attr-defined]
        await publisher.close()


async def test_a_fatal_producer_error_is_a_problem_and_other_errors_are_not() -> None:
    publisher = KafkaEventPublisher(NOWHERE, publish_timeout=1.0)
    try:
        publisher._on_error(KafkaError(KafkaError._TRANSPORT))
        assert publisher.problem() is None
        publisher._on_error(KafkaError(KafkaError._FATAL, "idempotence broken", fatal=True))
        problem = publisher.problem()
        assert problem is not None
        assert "failed for good" in problem
        with pytest.raises(PublishError, match="failed for good"):
            await publisher.publish(_purchase())
    finally:
        await publisher.close()


async def test_a_broken_producer_makes_web_unready_and_not_alive(web: WebUnderTest) -> None:
    assert (await web.client.get("/readyz")).status_code == 200
    assert (await web.client.get("/healthz")).status_code == 200
    web.publisher.broken = "the Kafka delivery thread is gone"

    for path in ("/readyz", "/healthz"):
        answer = await web.client.get(path)
        assert answer.status_code == 503
        assert answer.json()["problems"] == ["the Kafka delivery thread is gone"]
