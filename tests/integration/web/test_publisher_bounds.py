"""The real librdkafka producer answers within the publish bound: broker unreachable, queue full."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from shopsys.devtools.ports import free_port
from shopsys.events import PurchasePlaced, purchase_placed
from shopsys.initialize import DEFAULT_PRODUCTS
from shopsys.kafka.producer import KafkaEventPublisher, PublishError
from shopsys.settings import KafkaSettings

pytestmark = pytest.mark.integration

PUBLISH_TIMEOUT = 1.0


def _event() -> PurchasePlaced:
    return purchase_placed(
        purchase_id=uuid.uuid4(),
        user_id="bound-user",
        username=None,
        product=DEFAULT_PRODUCTS[0],
        quantity=1,
    )


def _unreachable_publisher() -> KafkaEventPublisher:
    settings = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}", topic="nowhere")
    return KafkaEventPublisher(settings, publish_timeout=PUBLISH_TIMEOUT)


def test_unreachable_broker_fails_within_the_publish_timeout() -> None:
    async def scenario() -> float:
        publisher = _unreachable_publisher()
        try:
            assert not await publisher.is_ready()
            started = time.monotonic()
            with pytest.raises(PublishError):
                await publisher.publish(_event())
            return time.monotonic() - started
        finally:
            await publisher.close()

    elapsed = asyncio.run(scenario())
    assert elapsed < PUBLISH_TIMEOUT + 1.5


def test_full_producer_queue_fails_at_once() -> None:
    async def scenario() -> float:
        publisher = _unreachable_publisher()
        payload = _event().to_json()
        try:
            # fill librdkafka's queue directly (publish() would await each message)
            producer = publisher._producer
            queued = 0
            while queued < 200_000:
                try:
                    producer.produce("nowhere", value=payload)
                except BufferError:
                    break
                queued += 1
            assert queued < 200_000, "the producer queue is bounded"
            started = time.monotonic()
            with pytest.raises(PublishError, match="queue is full"):
                await publisher.publish(_event())
            return time.monotonic() - started
        finally:
            await publisher.close()

    assert asyncio.run(scenario()) < 0.5
