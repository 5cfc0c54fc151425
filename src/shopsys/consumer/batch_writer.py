"""Writing one batch, on the loop's write thread: events to MongoDB, poison to the DLQ.

Each part of a batch is cleared once done, so a retry after a later failure does not repeat
it. Events MongoDB refuses for good join the poison; poison the dead-letter topic refuses
for good is held (``Batch.hold``): the loop parks its partition at it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from shopsys.consumer.batch import Batch, Partition
from shopsys.consumer.dead_letters import DeadLetterSink, Poison
from shopsys.consumer.metrics import ConsumerMetrics
from shopsys.events import Event
from shopsys.store import Refusal

if TYPE_CHECKING:
    from shopsys.tracing.messaging import ConsumerTracing

logger = logging.getLogger(__name__)


class EventWriter(Protocol):
    def apply(self, events: Sequence[Event], partitions: Sequence[Partition]) -> list[Refusal]: ...


class BatchWriter:
    def __init__(
        self,
        writer: EventWriter,
        dead_letters: DeadLetterSink,
        metrics: ConsumerMetrics,
        tracing: ConsumerTracing | None,
    ) -> None:
        self._writer = writer
        self._dead_letters = dead_letters
        self._metrics = metrics
        self._tracing = tracing  # None: tracing is off, and costs one check per batch

    def write(self, batch: Batch) -> None:
        """Store the events, dead-letter the poison; each part is cleared once done, so a
        retry after a later failure does not repeat it. Traced, each attempt is one batch
        span, and one span per event around their write."""
        if self._tracing is None:
            self._write_parts(batch)
            return
        with self._tracing.batch(batch.messages, len(batch.events)):
            self._write_parts(batch)

    def _write_parts(self, batch: Batch) -> None:
        if batch.events:
            started = time.perf_counter()
            if self._tracing is None:
                refused = self._writer.apply(batch.events, batch.partitions())
            else:
                with self._tracing.writes(batch.events, batch.sources):
                    refused = self._writer.apply(batch.events, batch.partitions())
            self._metrics.write_latency.observe(time.perf_counter() - started)
            batch.poison.extend(Poison(batch.sources[r.index], r.reason) for r in refused)
            batch.events = []
            batch.sources = []
        if batch.poison:
            refused_by_dlq = self._dead_letters.send(batch.poison)
            for item in batch.poison:
                if item in refused_by_dlq:
                    batch.hold(item.message)
                    self._metrics.dead_letters_refused.inc()
                else:
                    self._metrics.dead_lettered.inc()
                    logger.warning("dead-lettered %s", item)
            batch.poison = []
