"""Offsets written to MongoDB and not yet committed: committed synchronously, and kept when
the broker refuses (say, mid-rebalance) to be retried while their partitions stay ours.

Without the retry, a partition that receives nothing more would keep its old committed
offset, and so its lag, for good: KEDA would never scale the consumer back in.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from confluent_kafka import Consumer, KafkaException

from shopsys.consumer.batch import Partition, to_topic_partitions
from shopsys.consumer.metrics import ConsumerMetrics

logger = logging.getLogger(__name__)

RETRY_SECONDS = 1.0


class PendingOffsets:
    def __init__(self, consumer: Consumer, metrics: ConsumerMetrics) -> None:
        self._consumer = consumer
        self._metrics = metrics
        self._pending: dict[Partition, int] = {}
        self._last_attempt = 0.0

    def __bool__(self) -> bool:
        return bool(self._pending)

    def commit(self, written: dict[Partition, int]) -> None:
        """Commit ``written`` together with whatever was refused before."""
        for partition, offset in written.items():
            self._pending[partition] = max(offset, self._pending.get(partition, 0))
        self.commit_pending()

    def retry_when_due(self) -> None:
        if self._pending and time.monotonic() - self._last_attempt >= RETRY_SECONDS:
            self.commit_pending()

    def commit_pending(self) -> None:
        if not self._pending:
            return
        offsets = dict(self._pending)
        self._last_attempt = time.monotonic()
        try:
            self._consumer.commit(offsets=to_topic_partitions(offsets), asynchronous=False)
        except KafkaException as error:
            # Until it lands, a crash only means redelivery, which insert-if-absent writes
            # and idempotent state changes make harmless.
            self._metrics.commit_failures.inc()
            logger.warning("offset commit failed, retrying later: %s", error)
            return
        for partition, offset in offsets.items():
            if self._pending.get(partition) == offset:
                del self._pending[partition]

    def forget(self, partitions: Iterable[Partition]) -> None:
        """The partitions are no longer ours: a commit for them would be refused."""
        for partition in partitions:
            self._pending.pop(partition, None)
