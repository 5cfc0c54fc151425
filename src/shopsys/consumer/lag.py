"""Consumer lag per partition: high watermark minus the group's committed offset.

That is the number KEDA's Kafka scaler computes for the consumer group. It is read from the
broker through an admin client on its own thread: asking through the consumer would queue
behind its long-poll fetches and slow the loop, and fetch statistics go stale while the
partitions are paused.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaException, TopicPartition
from prometheus_client import Gauge

from shopsys.consumer.batch import Partition
from shopsys.settings import KafkaSettings

logger = logging.getLogger(__name__)


class OffsetSource:
    """Where committed offsets and watermarks come from; tests substitute a subclass."""

    def committed(self, partitions: Iterable[Partition]) -> dict[Partition, int]:
        """The group's committed offset per partition; negative when none."""
        raise NotImplementedError

    def watermarks(self, partitions: Iterable[Partition], *, latest: bool) -> dict[Partition, int]:
        raise NotImplementedError

    def partitions(self, topic: str) -> set[Partition]:
        """The topic's partitions; empty when the topic does not exist."""
        raise NotImplementedError

    @contextlib.contextmanager
    def deadline(self, seconds: float) -> Iterator[None]:
        """The requests made inside share ``seconds`` between them; a source without
        timeouts of its own ignores it."""
        yield

    def close(self) -> None:
        return None


class KafkaOffsetSource(OffsetSource):
    """Asks the broker through a consumer handle of its own that never joins the group.

    Not the AdminClient: its coordinator lookups abort the process inside librdkafka
    (``rd_kafka_enq_once_del_source_return`` assertion) when the broker goes away mid-request,
    which the Kafka-outage tests provoked. Committed offsets and watermarks through a plain
    consumer handle survive outages.
    """

    def __init__(
        self,
        config: dict[str, Any],
        group: str,
        *,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = Consumer(
            {
                **config,
                "group.id": group,
                "enable.auto.commit": False,
                "logger": logging.getLogger("shopsys.librdkafka"),
            }
        )
        self._timeout = timeout
        self._clock = clock
        self._deadline: float | None = None

    @contextlib.contextmanager
    def deadline(self, seconds: float) -> Iterator[None]:
        """Each request inside waits at most what is left of ``seconds`` (and never more than
        ``timeout``); one that would start with nothing left raises ``TimeoutError``. Without
        it, a read of a few dozen requests could take that many times ``timeout``."""
        self._deadline = self._clock() + seconds
        try:
            yield
        finally:
            self._deadline = None

    def _wait(self) -> float:
        if self._deadline is None:
            return self._timeout
        left = self._deadline - self._clock()
        if left <= 0:
            raise TimeoutError("no time left for the next Kafka request")
        return min(self._timeout, left)

    @classmethod
    def for_settings(cls, settings: KafkaSettings, *, timeout: float = 5.0) -> KafkaOffsetSource:
        return cls(settings.client_config(), settings.consumer_group, timeout=timeout)

    def committed(self, partitions: Iterable[Partition]) -> dict[Partition, int]:
        asked = [TopicPartition(topic, part) for topic, part in partitions]
        answer = self._client.committed(asked, timeout=self._wait())
        return {(tp.topic, tp.partition): tp.offset for tp in answer if tp.error is None}

    def watermarks(self, partitions: Iterable[Partition], *, latest: bool) -> dict[Partition, int]:
        found = {}
        for topic, part in partitions:
            low, high = self._client.get_watermark_offsets(
                TopicPartition(topic, part), timeout=self._wait(), cached=False
            )
            found[(topic, part)] = high if latest else low
        return found

    def partitions(self, topic: str) -> set[Partition]:
        listed = self._client.list_topics(topic=topic, timeout=self._wait())
        described = listed.topics.get(topic)
        if described is None or described.error is not None:
            return set()
        return {(topic, part) for part in described.partitions}

    def close(self) -> None:
        self._client.close()


def lag_of(high: int, position: int) -> int:
    """The lag of a partition: its high watermark minus the group's position, never negative
    (a commit can land between the reads of the two). The one definition the lag gauge, the
    operations page and KEDA's scaler agree on."""
    return max(0, high - position)


@dataclass(frozen=True)
class PartitionOffsets:
    """Where a partition ends and where the group stands in it."""

    high: int  # the high watermark: the offset the next produced message gets
    position: int  # the committed offset, or the low watermark where the group never committed

    @property
    def lag(self) -> int:
        return lag_of(self.high, self.position)


def partition_offsets(
    source: OffsetSource, partitions: set[Partition]
) -> dict[Partition, PartitionOffsets]:
    """The high watermark and the group's position per partition; a partition whose watermark
    could not be read is left out."""
    if not partitions:
        return {}
    committed = source.committed(partitions)
    high = source.watermarks(partitions, latest=True)
    never_committed = [p for p in partitions if committed.get(p, -1) < 0]
    low = source.watermarks(never_committed, latest=False) if never_committed else {}
    found = {}
    for partition in partitions:
        if partition not in high:
            continue
        position = committed.get(partition, -1)
        if position < 0:
            position = low.get(partition, 0)
        found[partition] = PartitionOffsets(high=high[partition], position=position)
    return found


def partition_lag(source: OffsetSource, partitions: set[Partition]) -> dict[Partition, int]:
    """High watermark minus the committed offset (the low watermark where the group never
    committed), per partition: what KEDA's Kafka scaler computes."""
    return {
        partition: offsets.lag
        for partition, offsets in partition_offsets(source, partitions).items()
    }


@dataclass(eq=False)
class LagMonitor:
    """Publishes the lag of the partitions this consumer owns, every ``interval`` seconds."""

    source: OffsetSource
    gauge: Gauge
    assigned: Callable[[], set[Partition]]
    interval: float = field(default=5.0, kw_only=True)
    lag: dict[Partition, int] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="consumer-lag", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.interval + 1)
            if self._thread.is_alive():
                return  # still inside a request: closing the client under it is unsafe
        self.source.close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.refresh()
            except (KafkaException, RuntimeError, TimeoutError) as error:
                logger.debug("lag refresh failed: %s", error)

    def refresh(self) -> None:
        self._publish(partition_lag(self.source, set(self.assigned())))

    def _publish(self, lag: Mapping[Partition, int]) -> None:
        with self._lock:
            owned = self.assigned()  # a revoke may have happened while we asked
            current = {partition: value for partition, value in lag.items() if partition in owned}
            for gone in set(self.lag) - set(current):
                self.gauge.remove(gone[0], str(gone[1]))
            for (topic, part), value in current.items():
                self.gauge.labels(topic, str(part)).set(value)
            self.lag = current

    def forget(self, partitions: Iterable[Partition]) -> None:
        """Revoked partitions are another consumer's to report."""
        with self._lock:
            for partition in partitions:
                if self.lag.pop(partition, None) is not None:
                    self.gauge.remove(partition[0], str(partition[1]))
