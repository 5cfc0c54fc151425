"""One consumed batch: decoded events, poison messages, and the offsets to commit after it."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, Message, TopicPartition

from shopsys.consumer.dead_letters import Poison
from shopsys.events import Event, InvalidEvent, decode_event

logger = logging.getLogger(__name__)

Partition = tuple[str, int]


def decode(message: Message) -> Event | Poison:
    """The event a message carries, or why it never can be stored."""
    value = message.value()
    if value is None:
        return Poison(message, "empty message value")
    try:
        return decode_event(value)
    except InvalidEvent as error:
        return Poison(message, f"invalid event: {error}")


def partition_of(message: Message) -> Partition:
    return (message.topic() or "", message.partition() or 0)


def next_offsets(messages: Iterable[Message]) -> dict[Partition, int]:
    """The offsets to commit after ``messages``: one past the highest per partition."""
    highest: dict[Partition, int] = {}
    for message in messages:
        offset = message.offset()
        if offset is None or offset < 0:
            continue
        key = partition_of(message)
        highest[key] = max(highest.get(key, -1), offset + 1)
    return highest


def to_topic_partitions(offsets: dict[Partition, int]) -> list[TopicPartition]:
    return [TopicPartition(topic, part, offset) for (topic, part), offset in offsets.items()]


@dataclass
class Batch:
    """The messages of one poll, split into storable events and poison."""

    messages: list[Message] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    sources: list[Message] = field(default_factory=list)  # sources[i] carried events[i]
    poison: list[Poison] = field(default_factory=list)
    revoked: set[Partition] = field(default_factory=set)  # never commit for these

    @classmethod
    def of(cls, received: Sequence[Message]) -> Batch:
        batch = cls()
        for message in received:
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    logger.warning("consume error: %s", error)
                continue
            batch.messages.append(message)
            decoded = decode(message)
            if isinstance(decoded, Poison):
                batch.poison.append(decoded)
            else:
                batch.events.append(decoded)
                batch.sources.append(message)
        return batch

    def __len__(self) -> int:
        return len(self.messages)

    def offsets(self) -> dict[Partition, int]:
        return next_offsets(self.messages)
