"""The consumer loop: Kafka batch -> MongoDB (or the DLQ) -> commit the offsets.

The invariant: an offset is committed only when every event before it on its partition is
in MongoDB or confirmed in the dead-letter topic. Everything else (redelivery after a crash
or a rebalance) is made harmless by insert-if-absent writes keyed by ``_id = purchase_id``.

One batch is written (on a worker thread) while the next is polled and decoded; batches
are committed in order, each once its write is confirmed, while the next one is written.
Rebalance callbacks run inside ``consume()`` on the loop thread: a revoke waits for the
write in flight and commits it while the partitions are still ours; anything unwritten is
dropped for the revoked partitions (never committed for them) and redelivered to their new
owner. A commit the broker refuses is retried (see ``offsets``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from pymongo.errors import PyMongoError

from shopsys.consumer.batch import Batch, Partition, partition_of
from shopsys.consumer.dead_letters import DeadLetterError, DeadLetterSink
from shopsys.consumer.lag import LagMonitor, OffsetSource
from shopsys.consumer.metrics import ConsumerMetrics
from shopsys.consumer.offsets import PendingOffsets
from shopsys.events import Event
from shopsys.settings import ConsumerSettings

if TYPE_CHECKING:
    from shopsys.tracing.messaging import ConsumerTracing

logger = logging.getLogger(__name__)

FIRST_RETRY_DELAY = 0.2
WAIT_STEP = 0.1


class EventWriter(Protocol):
    def apply(self, events: Sequence[Event]) -> None: ...


class ConsumerLoop:
    """Runs in its own thread; ``stop()`` asks it to finish the batch and leave the group."""

    def __init__(
        self,
        consumer: Consumer,
        writer: EventWriter,
        dead_letters: DeadLetterSink,
        settings: ConsumerSettings,
        metrics: ConsumerMetrics,
        *,
        topic: str,
        lag: OffsetSource | None = None,
        tracing: ConsumerTracing | None = None,
    ) -> None:
        self._consumer = consumer
        self._writer = writer
        self._dead_letters = dead_letters
        self._settings = settings
        self._metrics = metrics
        self._topic = topic
        self._tracing = tracing  # None: tracing is off, and costs one check per batch
        self._stop = threading.Event()
        self.closed = threading.Event()
        self.crashed = False
        self._assigned: frozenset[Partition] = frozenset()  # replaced, never mutated
        self._carry: list[Message] = []
        self._uncommitted: list[Batch] = []  # consumed, not yet committed (at most two)
        self._offsets = PendingOffsets(consumer, metrics)
        self._in_flight: tuple[Batch, Future[None]] | None = None
        self._writes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="consumer-write")
        self._paused = False
        self.writing_ok = True
        # The lag of the partitions this consumer owns, published beside the loop (started
        # and stopped with it, told about revokes).
        self._lag = None if lag is None else LagMonitor(lag, metrics.lag, self.assigned)

    def assigned(self) -> set[Partition]:
        """The partitions owned right now (safe to call from other threads)."""
        return set(self._assigned)

    def stop(self) -> None:
        self._stop.set()

    @property
    def shutdown_timeout(self) -> float:
        """How long stopping may take: the batch in flight is finished and committed."""
        return self._settings.shutdown_timeout_seconds

    def problems(self) -> list[str]:
        """Why the pod is not ready, as far as the loop goes. Kafka is deliberately not a
        condition: the management API (the web pods' catalog and reads) must stay up through
        a Kafka outage, and a pod without partitions (a rolling update's surge pod at maximum
        scale) must turn ready so the rollout can go on; how many partitions a pod owns is
        the metric shopsys_consumer_assigned_partitions."""
        found = []
        if self.crashed:
            found.append("the consumer loop crashed")
        if self._stop.is_set():
            found.append("shutting down")
        if not self.writing_ok:
            found.append("writes to mongodb are failing")
        return found

    def run(self) -> None:
        self._consumer.subscribe(
            [self._topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        if self._lag is not None:
            self._lag.start()
        try:
            while not self._stop.is_set():
                # Poll and decode the next batch while the previous one is being written.
                received = self._carry + self._consumer.consume(
                    num_messages=self._settings.batch_size,
                    timeout=self._settings.batch_wait_ms / 1000,
                )
                self._carry = []
                if not self._settle_in_flight(self._take(received)):
                    break  # asked to stop while writes fail: nothing more is committed
                self._offsets.retry_when_due()
            else:
                self._settle_in_flight(None)  # stopping: finish the batch and commit it
        except Exception:
            self.crashed = True
            logger.exception("consumer loop failed")
            raise
        finally:
            self._close()

    def _close(self) -> None:
        logger.info("consumer leaving the group")
        if self._lag is not None:
            self._lag.stop()
        self._writes.shutdown(wait=True)
        try:
            self._consumer.close()
        except (KafkaException, RuntimeError) as error:
            logger.warning("consumer close failed: %s", error)
        try:
            self._dead_letters.close()
        finally:
            self._assigned = frozenset()
            self.closed.set()

    # --- rebalances -------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self._paused and partitions:
            # While writes fail, new partitions join the pause instead of filling memory.
            consumer.incremental_assign(partitions)
            consumer.pause(partitions)
        self._assigned = self._assigned | {(tp.topic, tp.partition) for tp in partitions}
        self._metrics.assigned.set(len(self._assigned))
        logger.info("partitions assigned: %s", sorted(tp.partition for tp in partitions))

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Finish the write in flight and commit it while the partitions are still ours;
        whatever is not written by then is dropped for them (and redelivered elsewhere)."""
        if self._in_flight is not None and not self._paused:
            batch, future = self._in_flight
            try:
                future.result(timeout=self._settings.shutdown_timeout_seconds)
            except (PyMongoError, DeadLetterError, TimeoutError):
                pass  # still in flight or failed: retried later, not committed for these
            else:
                self._in_flight = None
                self._commit(batch)
        self._offsets.commit_pending()  # a refused commit, while these partitions are ours
        self._drop(partitions, "revoked")

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._drop(partitions, "lost")  # no longer ours: a commit would be refused

    def _drop(self, partitions: list[TopicPartition], how: str) -> None:
        gone = {(tp.topic, tp.partition) for tp in partitions}
        self._assigned = self._assigned - gone
        self._offsets.forget(gone)
        for batch in self._uncommitted:
            batch.revoked.update(gone)
        self._carry = [message for message in self._carry if partition_of(message) not in gone]
        if self._lag is not None:
            self._lag.forget(gone)
        self._metrics.assigned.set(len(self._assigned))
        logger.info("partitions %s: %s", how, sorted(tp.partition for tp in partitions))

    # --- one batch --------------------------------------------------------------------

    def _take(self, received: Sequence[Message]) -> Batch | None:
        if not received:
            return None
        batch = Batch.of(received)
        if not batch:
            return None
        self._metrics.consumed.inc(len(batch))
        self._metrics.batch_size.observe(len(batch))
        self._uncommitted.append(batch)
        return batch

    def _settle_in_flight(self, following: Batch | None) -> bool:
        """Wait for the write in flight (retried while it fails), start writing
        ``following``, then commit the finished batch: the commit's round trip overlaps the
        next write instead of delaying it. False when asked to stop before the write in
        flight was done."""
        finished = self._in_flight
        if finished is not None:
            batch, future = finished
            if not self._retry_until_done(future.result, lambda: self._write(batch)):
                return False
            self._in_flight = None
        if following is not None:
            self._in_flight = (following, self._writes.submit(self._write, following))
        if finished is not None:
            self._commit(finished[0])
        return True

    def _write(self, batch: Batch) -> None:
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
                self._writer.apply(batch.events)
            else:
                with self._tracing.writes(batch.events, batch.sources):
                    self._writer.apply(batch.events)
            self._metrics.write_latency.observe(time.perf_counter() - started)
            batch.events = []
            batch.sources = []
        if batch.poison:
            self._dead_letters.send(batch.poison)
            self._metrics.dead_lettered.inc(len(batch.poison))
            for item in batch.poison:
                logger.warning("dead-lettered %s", item)
            batch.poison = []

    def _retry_until_done(self, first: Callable[[], object], again: Callable[[], None]) -> bool:
        """``first()``, then ``again()`` with capped exponential backoff while it fails,
        the partitions paused meanwhile. False when asked to stop first."""
        delay = min(FIRST_RETRY_DELAY, self._settings.retry_backoff_max_seconds)
        attempt = first
        try:
            while True:
                try:
                    attempt()
                    self.writing_ok = True
                    return True
                except (PyMongoError, DeadLetterError) as error:
                    self.writing_ok = False
                    self._metrics.write_failures.inc()
                    logger.warning("write failed, retrying in %.1fs: %s", delay, error)
                self._set_paused(True)
                if not self._wait(delay):
                    return False
                delay = min(delay * 2, self._settings.retry_backoff_max_seconds)
                attempt = again
        finally:
            self._set_paused(False)

    def _set_paused(self, paused: bool) -> None:
        if paused == self._paused:
            return
        self._paused = paused
        self._metrics.paused.set(1 if paused else 0)
        try:
            assignment = self._consumer.assignment()
            if paused:
                self._consumer.pause(assignment)
            else:
                self._consumer.resume(assignment)
        except KafkaException as error:
            logger.warning("could not %s partitions: %s", "pause" if paused else "resume", error)

    def _wait(self, seconds: float) -> bool:
        """Sleep while staying in the group: paused partitions deliver nothing, rebalance
        callbacks still run. False when asked to stop."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            if self._stop.is_set():
                return False
            self._carry.extend(
                self._consumer.consume(
                    num_messages=self._settings.batch_size, timeout=min(WAIT_STEP, remaining)
                )
            )
        return not self._stop.is_set()

    def _commit(self, batch: Batch) -> None:
        self._uncommitted = [other for other in self._uncommitted if other is not batch]
        self._offsets.commit(
            {
                partition: offset
                for partition, offset in batch.offsets().items()
                if partition in self._assigned and partition not in batch.revoked
            }
        )
