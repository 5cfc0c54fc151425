"""What the operations page shows, as JSON: one snapshot of the system, part by part.

Each part is either available (``"available": true`` and its figures) or ``Unavailable`` with
the reason, so a part that cannot be read (Kafka down, no Kubernetes permission) never takes
the others, or the page, with it. Counters are cumulative; the browser turns two snapshots
into rates, so every open page sees rates over its own interval and the server keeps no
history.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shopsys.consumer.lag import lag_of


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True)


class Unavailable(_Part):
    available: Literal[False] = False
    reason: str


class PartitionState(_Part):
    partition: int
    high: int = Field(description="high watermark: the offset the next event produced gets")
    position: int = Field(
        description="the group's committed offset (the low watermark where it never committed)"
    )

    @property
    def lag(self) -> int:
        return lag_of(self.high, self.position)


class OffsetsView(_Part):
    """Group-wide offsets of the purchases topic and the dead-letter topic's size."""

    available: Literal[True] = True
    partitions: list[PartitionState]
    dead_lettered_total: int = Field(description="sum of the DLQ topic's high watermarks")

    @property
    def produced_total(self) -> int:
        return sum(p.high for p in self.partitions)

    @property
    def processed_total(self) -> int:
        return sum(p.position for p in self.partitions)

    def summary(self) -> dict[str, object]:
        return {
            **self.model_dump(exclude={"partitions"}),
            "partitions": [{**p.model_dump(), "lag": p.lag} for p in self.partitions],
            "lag_total": sum(p.lag for p in self.partitions),
            "produced_total": self.produced_total,
            "processed_total": self.processed_total,
        }


class Member(_Part):
    member_id: str
    client_id: str
    host: str
    partitions: list[int] = Field(description="partitions of the purchases topic it owns")


class GroupView(_Part):
    available: Literal[True] = True
    state: str
    members: list[Member]


class LatencyView(_Part):
    """This replica's MongoDB batch write histogram (cumulative, like Prometheus')."""

    available: Literal[True] = True
    scope: Literal["this replica"] = "this replica"
    count: float
    sum_seconds: float
    buckets: list[tuple[float, float]] = Field(description="(upper bound, cumulative count)")


class Replicas(_Part):
    name: str
    desired: int
    ready: int
    available_replicas: int
    updated: int


class ReplicasView(_Part):
    available: Literal[True] = True
    web: Replicas | Unavailable
    consumer: Replicas | Unavailable


Offsets = OffsetsView | Unavailable
Group = GroupView | Unavailable
Latency = LatencyView | Unavailable
ReplicaCounts = ReplicasView | Unavailable


class Snapshot(_Part):
    time: float = Field(description="server time of the snapshot, Unix seconds")
    replica: str = Field(description="host name of the consumer replica that answered")
    topic: str
    dlq_topic: str
    group: str
    offsets: Offsets
    group_members: Group
    write_latency: Latency
    replicas: ReplicaCounts

    def to_json(self) -> dict[str, object]:
        body = self.model_dump()
        if isinstance(self.offsets, OffsetsView):
            body["offsets"] = self.offsets.summary()
        return body
