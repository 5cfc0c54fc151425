"""One snapshot for the operations page, shared by every open page for ``cache_seconds``.

Each part is read on its own and fails on its own: Kafka through the probe process (bounded
by ``kafka_timeout``), the replica counts through the Kubernetes API (bounded by its client's
timeout), the write latency from this replica's own histogram (never fails).

One read at a time, and nobody queues behind it: a read can take seconds when Kafka is slow,
and each waiting request would hold a threadpool worker that ``/readyz`` and ``/metrics``
need. A request that finds a read in progress answers the last snapshot instead (the page
skips a snapshot it already has), or, before the first read completed, one that says so.
"""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import Histogram

from shopsys.management.operations.kubernetes import ReplicaSource
from shopsys.management.operations.model import (
    Group,
    LatencyView,
    Offsets,
    ReplicaCounts,
    Snapshot,
    Unavailable,
)
from shopsys.management.operations.probe import KafkaProbe

READ_IN_PROGRESS = "a read is already in progress"


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
    wait_for_read: float = 0.1  # seconds a request waits for another's read to finish
    replica: str = field(default_factory=socket.gethostname)
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _cached: tuple[float, Snapshot] | None = field(default=None, init=False)

    def snapshot(self) -> Snapshot:
        """The latest snapshot: a fresh read when the cached one is older than
        ``cache_seconds`` and no other read is in progress, else the cached one."""
        fresh = self._fresh()
        if fresh is not None:
            return fresh
        if not self._lock.acquire(timeout=self.wait_for_read):
            cached = self._cached
            return cached[1] if cached is not None else self._read_in_progress()
        try:
            fresh = self._fresh()  # the read we waited for may have just finished
            if fresh is not None:
                return fresh
            taken = self._read()
            self._cached = (self.clock(), taken)
            return taken
        finally:
            self._lock.release()

    def close(self) -> None:
        self.probe.close()
        self.replicas.close()

    def _fresh(self) -> Snapshot | None:
        cached = self._cached
        if cached is not None and self.clock() - cached[0] < self.cache_seconds:
            return cached[1]
        return None

    def _read_in_progress(self) -> Snapshot:
        busy = Unavailable(reason=READ_IN_PROGRESS)
        return self._snapshot(self.wall_clock(), offsets=busy, group=busy, replicas=busy)

    def _read(self) -> Snapshot:
        started = self.clock()
        taken_at = self.wall_clock()
        offsets = self.probe.offsets(timeout=self.kafka_timeout)
        group = self.probe.group(timeout=self.kafka_timeout - (self.clock() - started))
        replicas = self.replicas.replicas()
        return self._snapshot(taken_at, offsets=offsets, group=group, replicas=replicas)

    def _snapshot(
        self, taken_at: float, *, offsets: Offsets, group: Group, replicas: ReplicaCounts
    ) -> Snapshot:
        return Snapshot(
            time=taken_at,
            replica=self.replica,
            topic=self.names.topic,
            dlq_topic=self.names.dlq_topic,
            group=self.names.group,
            offsets=offsets,
            group_members=group,
            write_latency=latency(self.write_latency),
            replicas=replicas,
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
