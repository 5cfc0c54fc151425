"""The Kafka consumer's configuration: manual commits after the write, cooperative rebalances."""

from __future__ import annotations

from typing import Any

from shopsys.settings import KafkaSettings


def consumer_config(kafka: KafkaSettings) -> dict[str, Any]:
    return {
        **kafka.client_config(),
        "group.id": kafka.consumer_group,
        "auto.offset.reset": kafka.auto_offset_reset,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "partition.assignment.strategy": "cooperative-sticky",
        "enable.partition.eof": False,
        # A crashed consumer's partitions move to the others after this long.
        "session.timeout.ms": 10_000,
        "heartbeat.interval.ms": 2_000,
        "max.poll.interval.ms": 300_000,
        # librdkafka prefetches up to 64 MiB by default. The loop uses a few batches ahead,
        # and the rest would only be resident memory.
        "queued.max.messages.kbytes": 4_096,
    }
