"""One snapshot for the operations page, shared by every open page for ``cache_seconds``.

Each part is read on its own and fails on its own: Kafka through the probe process (bounded
by ``kafka_timeout``), the replica counts through the Kubernetes API (bounded by its client's
timeout), the write latency from this replica's own histogram (never fails).
"""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import Histogram

from shopsys.consumer.ops.kubernetes import ReplicaSource
from shopsys.consumer.ops.model import LatencyView, Snapshot
from shopsys.consumer.ops.probe import KafkaProbe


@dataclass(frozen=True)
class Names:
    topic: str
    dlq_topic: str
    group: str


@dataclass(eq=False)
class Operations:
    names: Names
    probe: KafkaProbe
    replicas: ReplicaSource
    write_latency: Histogram
    kafka_timeout: float = 4.0
    cache_seconds: float = 1.0
    replica: str = field(default_factory=socket.gethostname)
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _cached: tuple[float, Snapshot] | None = field(default=None, init=False)

    def snapshot(self) -> Snapshot:
        """The latest snapshot; concurrent callers wait for one read instead of each making
        their own."""
        with self._lock:
            if self._cached is not None and self.clock() - self._cached[0] < self.cache_seconds:
                return self._cached[1]
            taken = self._read()
            self._cached = (self.clock(), taken)
            return taken

    def close(self) -> None:
        self.probe.close()
        self.replicas.close()

    def _read(self) -> Snapshot:
        started = self.clock()
        taken_at = self.wall_clock()
        offsets = self.probe.offsets(timeout=self.kafka_timeout)
        group = self.probe.group(timeout=self.kafka_timeout - (self.clock() - started))
        return Snapshot(
            time=taken_at,
            replica=self.replica,
            topic=self.names.topic,
            dlq_topic=self.names.dlq_topic,
            group=self.names.group,
            offsets=offsets,
            group_members=group,
            write_latency=latency(self.write_latency),
            replicas=self.replicas.replicas(),
        )


def latency(histogram: Histogram) -> LatencyView:
    """The histogram's cumulative buckets, count and sum, as Prometheus would scrape them."""
    count = total = 0.0
    buckets: list[tuple[float, float]] = []
    for metric in histogram.collect():
        for sample in metric.samples:
            if sample.name.endswith("_bucket"):
                bound = float(sample.labels["le"])
                if not math.isinf(bound):
                    buckets.append((bound, sample.value))
            elif sample.name.endswith("_count"):
                count = sample.value
            elif sample.name.endswith("_sum"):
                total = sample.value
    return LatencyView(count=count, sum_seconds=total, buckets=sorted(buckets))
