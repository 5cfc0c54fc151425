"""The event publisher: an idempotent, acks=all producer whose sends can be awaited.

A purchase is only acknowledged to the client after Kafka's delivery report said the event
is on all in-sync replicas; until then it is in flight, and if that takes longer than the
publish timeout the caller gets ``PublishError`` (the API answers ``503``). That answer is
doubtful: a broker may have appended the event and answer after the deadline (with replicas
that is routine), so the event may still be stored. The client retries with the same
``Idempotency-Key``, which maps to the same purchase id, and ends with one purchase.

The producer is supervised: a fatal librdkafka error (reported to ``error_cb``) or a dead
delivery thread turns ``problem()`` from None into the reason, which the web role reports
as not ready and not alive, and every publish is refused from then on without producing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from shopsys.events import Event
from shopsys.settings import KafkaSettings

Headers = Sequence[tuple[str, str | bytes | None]]  # a Kafka message's headers
Report = tuple[asyncio.Future[None], KafkaError | None]  # a delivery report, for a request
# librdkafka's own log lines go through Python logging, so they come out as JSON too.
LIBRDKAFKA_LOGGER = logging.getLogger("shopsys.librdkafka")


STATISTICS_INTERVAL_SECONDS = 5


@dataclass(frozen=True)
class ProduceStatistics:
    """Totals since the producer started, from librdkafka's statistics."""

    requests: int  # produce requests sent to the brokers
    messages: int  # messages sent in them: messages / requests is the producer's batching


class PublishError(Exception):
    """Kafka did not acknowledge the event (broker down, queue full, or timeout)."""


class EventPublisher:
    """The interface the web role depends on; tests substitute a subclass."""

    async def publish(self, event: Event, headers: Headers = ()) -> None:
        raise NotImplementedError

    async def is_ready(self) -> bool:
        raise NotImplementedError

    def problem(self) -> str | None:
        """Why this publisher can never deliver again (the process must restart), or None."""
        return None

    def queue_length(self) -> int:
        return 0

    def produce_statistics(self) -> ProduceStatistics | None:
        """The latest totals, or None before the first statistics arrived."""
        return None

    async def close(self) -> None:
        return None


def producer_config(settings: KafkaSettings, publish_timeout: float) -> dict[str, Any]:
    return {
        **settings.client_config(),
        "enable.idempotence": True,
        "acks": "all",
        # Under concurrency the requests of the next millisecond share one produce request:
        # measured on a warm broker, that cuts the broker's CPU per purchase by about a
        # quarter, for about 1 ms more latency (tests/perf/README.md).
        "linger.ms": 1,
        # Events are a few hundred bytes and batches a few events: lz4 saved almost no bytes
        # and cost CPU twice, here and in the broker, which decompresses to validate.
        "compression.type": "none",
        # librdkafka gives up on a message at the bound the API waits. A message already sent
        # may still be appended by the broker after that (the 503 is doubtful): a retry with
        # the same Idempotency-Key makes that harmless.
        "message.timeout.ms": max(1_000, int(publish_timeout * 1_000)),
        "queue.buffering.max.messages": 100_000,
    }


class KafkaEventPublisher(EventPublisher):
    """One per process, created in the app lifespan; a thread serves the delivery reports.

    The reports of one ``poll()`` (librdkafka hands over a produce request's worth at once)
    settle their requests' futures in one hop to the event loop, not one hop each: on a busy
    server that is one wake-up of the loop per batch instead of one per purchase, each taking
    the GIL from the request handlers.
    """

    def __init__(self, settings: KafkaSettings, *, publish_timeout: float) -> None:
        self._topic = settings.topic
        self._publish_timeout = publish_timeout
        self._problem: str | None = None
        self._producer = Producer(
            {
                **producer_config(settings, publish_timeout),
                "logger": LIBRDKAFKA_LOGGER,
                "error_cb": self._on_error,
                "statistics.interval.ms": STATISTICS_INTERVAL_SECONDS * 1_000,
                "stats_cb": self._on_statistics,
            }
        )
        self._statistics: ProduceStatistics | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reports: deque[Report] = deque()  # appended and drained atomically
        self._stopping = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="kafka-delivery", daemon=True)
        self._poller.start()
        self._ready_checked_at = 0.0
        self._ready = False

    def _poll(self) -> None:
        try:
            while not self._stopping.is_set():
                self._producer.poll(0.1)
                if self._reports and self._loop is not None:
                    self._loop.call_soon_threadsafe(_settle_all, self._drain_reports())
        except BaseException as error:
            self._fail(f"the Kafka delivery thread died: {type(error).__name__}: {error}")
            raise

    def _on_error(self, error: KafkaError) -> None:
        """librdkafka's errors that belong to no message (on the poll thread)."""
        if error.fatal():
            self._fail(f"the Kafka producer failed for good: {error.str()}")
        else:
            LIBRDKAFKA_LOGGER.debug("kafka client error: %s", error.str())  # logged by it too

    def _on_statistics(self, document: str) -> None:
        """librdkafka's statistics JSON (on the poll thread); only the produce totals are kept."""
        try:
            self._statistics = produce_statistics_from(document)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            LIBRDKAFKA_LOGGER.debug("unreadable producer statistics: %r", error)

    def produce_statistics(self) -> ProduceStatistics | None:
        return self._statistics

    def _fail(self, problem: str) -> None:
        if self._problem is None:
            self._problem = problem
            LIBRDKAFKA_LOGGER.error("%s; this process must restart to publish again", problem)

    def problem(self) -> str | None:
        if self._problem is None and not self._poller.is_alive() and not self._stopping.is_set():
            self._fail("the Kafka delivery thread is gone")
        return self._problem

    def _drain_reports(self) -> list[Report]:
        return [self._reports.popleft() for _ in range(len(self._reports))]

    async def publish(self, event: Event, headers: Headers = ()) -> None:
        problem = self.problem()
        if problem is not None:  # nothing is produced: this 503 is not doubtful
            raise PublishError(problem)
        loop = self._loop = asyncio.get_running_loop()
        delivered: asyncio.Future[None] = loop.create_future()

        def on_delivery(error: KafkaError | None, _message: Message) -> None:
            self._reports.append((delivered, error))  # on the poll thread, inside poll()

        try:
            self._producer.produce(
                self._topic,
                key=event.key,
                value=event.to_json(),
                headers=list(headers),
                on_delivery=on_delivery,
            )
        except BufferError as error:
            raise PublishError("the producer queue is full") from error
        except KafkaException as error:
            raise PublishError(str(error)) from error
        expiry = loop.call_later(self._publish_timeout + 1, _expire, delivered)
        try:
            await delivered
        finally:
            expiry.cancel()

    async def is_ready(self) -> bool:
        """Whether the broker answers a metadata request for our topic (cached for 2 s);
        reported as a metric, never a readiness condition."""
        if time.monotonic() - self._ready_checked_at < 2.0:
            return self._ready
        self._ready = await asyncio.to_thread(self._check_metadata)
        self._ready_checked_at = time.monotonic()
        return self._ready

    def _check_metadata(self) -> bool:
        try:
            metadata = self._producer.list_topics(topic=self._topic, timeout=1.5)
        except KafkaException:
            return False
        topic = metadata.topics.get(self._topic)
        return topic is not None and topic.error is None and bool(metadata.brokers)

    def queue_length(self) -> int:
        return len(self._producer)

    async def close(self) -> None:
        await asyncio.to_thread(self._producer.flush, 10.0)
        self._stopping.set()
        await asyncio.to_thread(self._poller.join, 2.0)
        _settle_all(self._drain_reports())  # served by the flush after the poller's last turn


def produce_statistics_from(document: str) -> ProduceStatistics:
    """The produce totals of a librdkafka statistics document (its STATISTICS.md)."""
    stats = json.loads(document)
    requests = sum(broker["req"].get("Produce", 0) for broker in stats["brokers"].values())
    return ProduceStatistics(requests=requests, messages=stats["txmsgs"])


def _settle_all(reports: list[Report]) -> None:
    for future, error in reports:
        if future.done():  # expired, or its request went away
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(PublishError(error.str()))


def _expire(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_exception(PublishError("Kafka did not acknowledge the event in time"))
