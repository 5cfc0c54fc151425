"""The consumer role's app as its composition root builds it, with fakes where the role would
reach Kafka or Kubernetes: one factory for the management API's tests of every tier, and one
fake per interface it depends on."""

from __future__ import annotations

import threading
from typing import Any

from shopsys.consumer.loop import ConsumerLoop
from shopsys.consumer.metrics import ConsumerMetrics
from shopsys.management.operations.kubernetes import ReplicaSource
from shopsys.management.operations.model import (
    Group,
    GroupView,
    Member,
    Offsets,
    OffsetsView,
    PartitionState,
    ReplicaCounts,
    Unavailable,
)
from shopsys.management.operations.probe import KafkaProbe
from shopsys.management.operations.snapshot import Names, Operations
from shopsys.management.services import ConsumerServices
from shopsys.store import CatalogStore, PurchaseStore

NAMES = Names(topic="purchases", dlq_topic="purchases.dlq", group="shopsys-consumer")
OFFSETS = OffsetsView(
    partitions=[
        PartitionState(partition=0, high=10, position=7),
        PartitionState(partition=1, high=5, position=5),
    ],
    dead_lettered_total=2,
)
GROUP = GroupView(
    state="STABLE",
    members=[Member(member_id="m-1", client_id="shopsys", host="/10.0.0.7", partitions=[0, 1])],
)


class IdleLoop(ConsumerLoop):
    """A consumer loop with nothing to consume: it runs until stopped and never crashes."""

    def __init__(self) -> None:  # no Kafka client
        self.crashed = False
        self._stopped = threading.Event()

    @property
    def shutdown_timeout(self) -> float:
        return 1.0

    def problems(self) -> list[str]:
        return []

    def run(self) -> None:
        self._stopped.wait()

    def stop(self) -> None:
        self._stopped.set()


class FakeProbe(KafkaProbe):
    def __init__(self, offsets: Offsets = OFFSETS, group: Group = GROUP) -> None:
        self.answers = (offsets, group)
        self.asked: list[tuple[str, float]] = []
        self.closed = False

    def offsets(self, *, timeout: float) -> Offsets:
        self.asked.append(("offsets", timeout))
        return self.answers[0]

    def group(self, *, timeout: float) -> Group:
        self.asked.append(("group", timeout))
        return self.answers[1]

    def close(self) -> None:
        self.closed = True


class FakeReplicas(ReplicaSource):
    def replicas(self) -> ReplicaCounts:
        return Unavailable(reason="not running in Kubernetes")


def consumer_services(
    metrics: ConsumerMetrics, database: Any, **overrides: Any
) -> ConsumerServices:
    """What the composition root builds, over ``database``, with an idle loop and the
    operations page reading a fake Kafka; ``overrides`` replace any of it."""
    built: dict[str, Any] = {
        "purchases": PurchaseStore(database),
        "catalog": CatalogStore(database),
        "ping_database": lambda: None,
        "loop": IdleLoop(),
        "operations": Operations(
            names=NAMES,
            probe=FakeProbe(),
            replicas=FakeReplicas(),
            write_latency=metrics.write_latency,
        ),
        "metrics": metrics,
    }
    return ConsumerServices(**{**built, **overrides})
