"""Topic administration, used by ``shopsys init`` and the tests."""

from __future__ import annotations

from collections.abc import Callable

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic  # type: ignore[attr-defined]

from shopsys.settings import KafkaSettings


def ensure_topics(
    settings: KafkaSettings,
    *,
    timeout: float = 30.0,
    log: Callable[[str], None] = lambda _: None,
) -> None:
    """Create the purchases and dead-letter topics, or grow them to the configured partitions.

    New topics get the configured replication factor and ``min.insync.replicas`` (with
    acks=all, how many copies a write needs). Idempotent: existing topics with enough
    partitions are left alone; partitions are never removed (Kafka cannot), so a lower
    setting than the live count only logs.
    """
    admin = AdminClient(settings.client_config())
    metadata = admin.list_topics(timeout=timeout)
    wanted = {
        settings.topic: settings.topic_partitions,
        settings.dlq_topic: settings.topic_partitions,
    }
    missing = [
        NewTopic(
            name,
            num_partitions=partitions,
            replication_factor=settings.topic_replication_factor,
            config={"min.insync.replicas": str(settings.topic_min_insync_replicas)},
        )
        for name, partitions in wanted.items()
        if name not in metadata.topics
    ]
    if missing:
        for name, future in admin.create_topics(missing, request_timeout=timeout).items():
            try:
                future.result(timeout=timeout)
                log(f"created topic {name} with {wanted[name]} partitions")
            except KafkaException as error:
                if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
    grow = []
    for name, partitions in wanted.items():
        topic = metadata.topics.get(name)
        if topic is None:
            continue
        current = len(topic.partitions)
        if current < partitions:
            grow.append(NewPartitions(name, partitions))
        elif current > partitions:
            log(f"topic {name} has {current} partitions, more than the configured {partitions}")
    if grow:
        for name, future in admin.create_partitions(grow, request_timeout=timeout).items():
            future.result(timeout=timeout)
            log(f"grew topic {name} to {wanted[name]} partitions")
