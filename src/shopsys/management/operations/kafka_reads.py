"""The Kafka reads behind the operations page, run inside the probe process (``probe_worker``).

Offsets come from a consumer handle that never joins the group (``KafkaOffsetSource``, the
same code and the same lag definition as the consumer's lag gauge and KEDA's scaler), so they
cover every partition of the topic, whoever owns it. Membership needs the group coordinator,
which only the AdminClient asks: ``describe_consumer_groups``.
"""

from __future__ import annotations

from typing import Any

from confluent_kafka import KafkaError, KafkaException

from shopsys.consumer.lag import OffsetSource, partition_offsets
from shopsys.management.operations.model import GroupView, Member, OffsetsView, PartitionState


class ReadError(RuntimeError):
    """A part of the page could not be read; the message says why, for the page."""


def read_offsets(source: OffsetSource, topic: str, dlq_topic: str) -> OffsetsView:
    partitions = source.partitions(topic)
    if not partitions:
        raise ReadError(f"topic {topic} not found")
    offsets = partition_offsets(source, partitions)
    missing = len(partitions) - len(offsets)
    if missing:
        raise ReadError(f"the watermarks of {missing} partitions of {topic} could not be read")
    dlq_partitions = source.partitions(dlq_topic)
    dlq_high = source.watermarks(dlq_partitions, latest=True) if dlq_partitions else {}
    if len(dlq_high) != len(dlq_partitions):
        raise ReadError(f"the watermarks of {dlq_topic} could not be read")
    return OffsetsView(
        partitions=[
            PartitionState(partition=part, high=found.high, position=found.position)
            for (_, part), found in sorted(offsets.items())
        ],
        dead_lettered_total=sum(dlq_high.values()),
    )


def describe_group(admin: Any, group: str, topic: str, *, timeout: float) -> GroupView:
    """Members of the group and their partitions of ``topic``, from the group coordinator.

    ``admin`` is a ``confluent_kafka.admin.AdminClient`` (untyped library)."""
    futures = admin.describe_consumer_groups([group], request_timeout=timeout)
    try:
        described = futures[group].result(timeout=timeout)
    except TimeoutError:  # concurrent.futures.TimeoutError, the same class since Python 3.11
        raise ReadError(f"describing group {group} failed: no answer in {timeout:.1f}s") from None
    except KafkaException as error:
        kafka_error: KafkaError = error.args[0]
        if kafka_error.code() == KafkaError.GROUP_ID_NOT_FOUND:
            return GroupView(state="NOT_FOUND", members=[])
        raise ReadError(f"describing group {group} failed: {kafka_error.str()}") from None
    members = [
        Member(
            member_id=str(member.member_id),
            client_id=str(member.client_id),
            host=str(member.host),
            partitions=sorted(
                tp.partition
                for tp in (member.assignment.topic_partitions if member.assignment else [])
                if tp.topic == topic
            ),
        )
        for member in described.members
    ]
    members.sort(key=lambda m: (m.partitions[:1] or [1 << 30], m.member_id))
    state = getattr(described.state, "name", str(described.state))
    return GroupView(state=state, members=members)
