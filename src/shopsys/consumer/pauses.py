"""Which assigned partitions deliver nothing, and why: all of them while writes fail, and
each partition parked at a message the dead-letter topic refused for good.

A parked partition is rewound to that message and paused; every ``park_seconds`` it is
resumed, the message comes back, and the dead-letter topic is tried again. Its other
messages wait with it (their order is kept), while the pod's other partitions go on.
Everything here runs on the loop thread, like the consumer's own calls.
"""

from __future__ import annotations

import logging
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition

from shopsys.consumer.batch import Partition
from shopsys.consumer.metrics import ConsumerMetrics

logger = logging.getLogger(__name__)


class PartitionPauses:
    def __init__(self, consumer: Consumer, metrics: ConsumerMetrics, park_seconds: float) -> None:
        self._consumer = consumer
        self._metrics = metrics
        self._park_seconds = park_seconds
        self.all_paused = False  # writes are failing: no partition delivers
        self._all_applied = True  # False: pausing them failed, and is tried again
        self._parked: dict[Partition, float] = {}  # partition -> when to try it again

    def is_parked(self, partition: Partition) -> bool:
        return partition in self._parked

    # --- every partition, while writes fail ----------------------------------------------

    def pause_all(self) -> None:
        if not self.all_paused:
            self.all_paused = True
            self._metrics.paused.set(1)
            self._all_applied = False
        self.apply()

    def resume_all(self) -> None:
        if not self.all_paused:
            return
        self.all_paused = False
        self._metrics.paused.set(0)
        self._call("resume", self._unparked(self._consumer.assignment()))

    def apply(self) -> None:
        """Pause everything again if it failed before (a pause that failed lets messages
        through; the loop rewinds them, see ``ConsumerLoop._wait``)."""
        if self.all_paused and not self._all_applied:
            self._all_applied = self._call("pause", self._consumer.assignment())

    def on_assign(self, partitions: list[TopicPartition]) -> None:
        """While writes fail, new partitions join the pause instead of filling memory."""
        if self.all_paused and partitions:
            self._call("pause", partitions)

    # --- one partition, at a message the dead-letter topic refused ------------------------

    def park(self, partition: Partition, offset: int) -> None:
        """Rewind ``partition`` to ``offset`` and pause it until its retry is due. Raises
        ``KafkaException`` if the rewind fails: then the loop must not go on past it."""
        part = TopicPartition(partition[0], partition[1], offset)
        self._consumer.pause([part])
        self._consumer.seek(part)
        self._parked[partition] = time.monotonic() + self._park_seconds
        self._metrics.parked.set(len(self._parked))
        logger.error(
            "partition %d parked at offset %d for %.0fs: the dead-letter topic refused its"
            " message; the pod's other partitions go on",
            partition[1],
            offset,
            self._park_seconds,
        )

    def release_due(self) -> None:
        """Resume the parked partitions whose retry is due (not while writes fail)."""
        now = time.monotonic()
        due = [partition for partition, at in self._parked.items() if at <= now]
        if not due or self.all_paused:
            return
        for partition in due:
            del self._parked[partition]
        self._metrics.parked.set(len(self._parked))
        self._call("resume", [TopicPartition(topic, part) for topic, part in due])
        logger.info("parked partitions %s: trying their message again", [p for _, p in due])

    def forget(self, partitions: set[Partition]) -> None:
        """Revoked or lost: the next owner starts from the committed offset anyway."""
        for partition in partitions:
            self._parked.pop(partition, None)
        self._metrics.parked.set(len(self._parked))

    # --- helpers -----------------------------------------------------------------------------

    def _unparked(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return [tp for tp in partitions if (tp.topic, tp.partition) not in self._parked]

    def _call(self, action: str, partitions: list[TopicPartition]) -> bool:
        if not partitions:
            return True
        try:
            getattr(self._consumer, action)(partitions)
        except KafkaException as error:
            logger.warning("could not %s partitions: %s", action, error)
            return False
        return True
