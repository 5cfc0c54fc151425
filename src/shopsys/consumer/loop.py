"""The consumer loop: Kafka batch -> MongoDB (or the DLQ) -> commit the offsets.

The invariant: an offset is committed only when every event before it on its partition is
in MongoDB or confirmed in the dead-letter topic. Everything else (redelivery after a crash
or a rebalance) is made harmless by idempotent writes keyed by ``_id = purchase_id``.

Errors are sorted by whether waiting can heal them. MongoDB or the dead-letter topic being
unreachable: the batch is retried with backoff, every partition paused, the pod unready.
An event MongoDB refuses for good: dead-lettered with the reason. A message the dead-letter
topic refuses for good (missing or forbidden topic): its partition is parked at it (see
``pauses``) while the others go on, and the pod stays ready.

One batch is written (on a worker thread) while the next is polled and decoded; batches
are committed in order, each once its write is confirmed, while the next one is written.
Rebalance callbacks run inside ``consume()`` on the loop thread: a revoke waits for the
write in flight and commits it while the partitions are still ours; anything unwritten is
dropped for the revoked partitions (never committed for them) and redelivered to their new
owner. A commit the broker refuses is retried (see ``offsets``).

One module past 300 lines: batching, pipelined commits and rebalances share one state, which a
split would have to expose.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from pymongo.errors import PyMongoError

from shopsys.consumer.batch import Batch, Partition, partition_of
from shopsys.consumer.batch_writer import BatchWriter, EventWriter
from shopsys.consumer.dead_letters import DeadLetterError, DeadLetterSink
from shopsys.consumer.lag import LagMonitor, OffsetSource
from shopsys.consumer.metrics import ConsumerMetrics
from shopsys.consumer.offsets import PendingOffsets
from shopsys.consumer.pauses import PartitionPauses
from shopsys.settings import ConsumerSettings

if TYPE_CHECKING:
    from shopsys.tracing.messaging import ConsumerTracing

logger = logging.getLogger(__name__)

FIRST_RETRY_DELAY = 0.2
WAIT_STEP = 0.1


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
        self._batches = BatchWriter(writer, dead_letters, metrics, tracing)
        self._dead_letters = dead_letters
        self._settings = settings
        self._metrics = metrics
        self._topic = topic
        self._stop = threading.Event()
        self.closed = threading.Event()
        self.crashed = False
        self._assigned: frozenset[Partition] = frozenset()  # replaced, never mutated
        self._carry: list[Message] = []
        self._uncommitted: list[Batch] = []  # consumed, not yet committed (at most two)
        self._offsets = PendingOffsets(consumer, metrics)
        self._in_flight: tuple[Batch, Future[None]] | None = None
        self._writes = ThreadPoolExecutor(max_workers=1, thread_name_prefix="consumer-write")
        self._pauses = PartitionPauses(consumer, metrics, settings.park_seconds)
        self.write_problem: str | None = None  # why writes fail right now, while they do
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
        if self.write_problem is not None:
            found.append(self.write_problem)
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
                fresh = self._consumer.consume(
                    num_messages=self._settings.batch_size,
                    timeout=self._settings.batch_wait_ms / 1000,
                )
                # Read after consume(): its rebalance callbacks may have replaced the carry.
                received, self._carry = self._carry + fresh, []
                if not self._settle_in_flight(self._take(received)):
                    break  # asked to stop while writes fail: nothing more is committed
                self._offsets.retry_when_due()
                self._pauses.release_due()
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
        if self._pauses.all_paused and partitions:
            consumer.incremental_assign(partitions)
            self._pauses.on_assign(partitions)
        self._assigned = self._assigned | {(tp.topic, tp.partition) for tp in partitions}
        self._metrics.assigned.set(len(self._assigned))
        logger.info("partitions assigned: %s", sorted(tp.partition for tp in partitions))

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Finish the write in flight and commit it while the partitions are still ours;
        whatever is not written by then is dropped for them (and redelivered elsewhere)."""
        if self._in_flight is not None and not self._pauses.all_paused:
            batch, future = self._in_flight
            try:
                future.result(timeout=self._settings.shutdown_timeout_seconds)
            except (PyMongoError, DeadLetterError, TimeoutError):
                pass  # still in flight or failed: retried later, not committed for these
            else:
                self._in_flight = None
                self._park_held(batch)
                self._commit(batch)
        self._offsets.commit_pending()  # a refused commit, while these partitions are ours
        self._drop(partitions, "revoked")

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._drop(partitions, "lost")  # no longer ours: a commit would be refused

    def _drop(self, partitions: list[TopicPartition], how: str) -> None:
        gone = {(tp.topic, tp.partition) for tp in partitions}
        self._assigned = self._assigned - gone
        self._offsets.forget(gone)
        self._pauses.forget(gone)
        self._exclude(gone)
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
            if not self._retry_until_done(future.result, lambda: self._batches.write(batch)):
                return False
            self._in_flight = None
        if finished is not None:
            self._park_held(finished[0])
        if following is not None:
            self._in_flight = (following, self._writes.submit(self._batches.write, following))
        if finished is not None:
            self._commit(finished[0])
        return True

    def _park_held(self, batch: Batch) -> None:
        """Park the partitions held at a message the dead-letter topic refused, and never
        commit what was consumed behind that message before the rewind."""
        for partition, offset in batch.held.items():
            if partition in self._assigned and not self._pauses.is_parked(partition):
                self._pauses.park(partition, offset)  # raises (the loop stops) if it cannot
        later = {p for p in batch.held if self._pauses.is_parked(p)}
        if later:
            self._exclude(later, keep=batch)

    def _exclude(self, partitions: set[Partition], keep: Batch | None = None) -> None:
        """Nothing consumed so far is committed for ``partitions``, but what ``keep`` may."""
        for batch in self._uncommitted:
            if batch is not keep:
                batch.excluded.update(partitions)
        self._carry = [m for m in self._carry if partition_of(m) not in partitions]

    def _retry_until_done(self, first: Callable[[], object], again: Callable[[], None]) -> bool:
        """``first()``, then ``again()`` with capped exponential backoff while it fails,
        the partitions paused meanwhile. False when asked to stop first."""
        delay = min(FIRST_RETRY_DELAY, self._settings.retry_backoff_max_seconds)
        attempt = first
        try:
            while True:
                try:
                    attempt()
                    self.write_problem = None
                    return True
                except (PyMongoError, DeadLetterError) as error:
                    self.write_problem = (
                        "writes to mongodb are failing"
                        if isinstance(error, PyMongoError)
                        else "the dead-letter topic does not confirm deliveries"
                    )
                    self._metrics.write_failures.inc()
                    logger.warning("write failed, retrying in %.1fs: %s", delay, error)
                self._pauses.pause_all()
                if not self._wait(delay):
                    return False
                delay = min(delay * 2, self._settings.retry_backoff_max_seconds)
                attempt = again
        finally:
            self._pauses.resume_all()

    def _wait(self, seconds: float) -> bool:
        """Sleep while staying in the group: paused partitions deliver nothing, rebalance
        callbacks still run. What a partition delivers anyway (its pause failed) is carried
        to the next batch, up to one batch; beyond that it is rewound, to come again once
        the partitions resume. False when asked to stop."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            if self._stop.is_set():
                return False
            self._pauses.apply()
            fresh = self._consumer.consume(
                num_messages=self._settings.batch_size, timeout=min(WAIT_STEP, remaining)
            )
            # Read after consume(): its rebalance callbacks may have replaced the carry.
            room = max(0, self._settings.batch_size - len(self._carry))
            self._carry = self._carry + fresh[:room]
            self._rewind(fresh[room:])
        return not self._stop.is_set()

    def _rewind(self, messages: Sequence[Message]) -> None:
        """Seek each partition back to the first of ``messages``; what cannot be rewound is
        carried after all (memory, rather than a gap)."""
        first: dict[Partition, Message] = {}
        for message in messages:
            first.setdefault(partition_of(message), message)
        for partition, message in first.items():
            try:
                self._consumer.seek(TopicPartition(*partition, message.offset() or 0))
            except KafkaException as error:
                logger.warning("could not rewind partition %d: %s", partition[1], error)
                self._carry.extend(m for m in messages if partition_of(m) == partition)

    def _commit(self, batch: Batch) -> None:
        self._uncommitted = [other for other in self._uncommitted if other is not batch]
        self._offsets.commit(
            {p: offset for p, offset in batch.offsets().items() if p in self._assigned}
        )
