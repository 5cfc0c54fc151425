"""A consumer loop on the fakes: an in-memory Kafka, mongomock, a recording dead-letter sink."""

from __future__ import annotations

from typing import Any

import mongomock

from shopsys.consumer.handlers import EventApplier
from shopsys.consumer.loop import ConsumerLoop
from shopsys.consumer.metrics import ConsumerMetrics
from shopsys.settings import ConsumerSettings
from shopsys.tracing.messaging import ConsumerTracing
from tests.unit.consumer.fakes import TOPIC, FakeConsumer, FlakyStore, RecordingDeadLetters


class Harness:
    def __init__(
        self,
        *,
        partitions: int = 3,
        store_failures: int = 0,
        dlq_failures: int = 0,
        dlq_refusals: int = 0,
        park_seconds: float = 30.0,
        database: Any = None,
        tracing: ConsumerTracing | None = None,
    ) -> None:
        self.database: Any = database or mongomock.MongoClient()["shopping"]
        self.consumer = FakeConsumer(partitions)
        self.store = FlakyStore(self.database, store_failures)
        self.dead_letters = RecordingDeadLetters(dlq_failures, dlq_refusals)
        self.metrics = ConsumerMetrics()
        self.loop = ConsumerLoop(
            self.consumer,
            EventApplier(self.store, self.metrics),
            self.dead_letters,
            ConsumerSettings(
                batch_size=4,
                batch_wait_ms=1,
                retry_backoff_max_seconds=0.01,
                park_seconds=park_seconds,
            ),
            self.metrics,
            topic=TOPIC,
            tracing=tracing,
        )
        self.consumer.when_idle = self.stop_when_drained

    def stop_when_drained(self, consumer: FakeConsumer) -> None:
        """Stop once every assigned partition is read to its end and nothing is paused."""
        drained = all(consumer.positions[p] >= len(consumer.logs[p]) for p in consumer.assigned)
        in_flight = self.loop._in_flight
        if in_flight is not None:
            future = in_flight[1]
            if not future.done() or future.exception() is not None:
                return  # a write still to finish or to retry
        if drained and not consumer.paused:
            self.loop.stop()

    def stored_ids(self) -> set[str]:
        return {document["_id"] for document in self.database["purchases"].find()}

    def metric(self, name: str) -> float:
        value = self.metrics.registry.get_sample_value(name)
        return 0.0 if value is None else value
