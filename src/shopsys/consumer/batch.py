"""One consumed batch: decoded events, poison messages, and the offsets to commit after it."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, Message, TopicPartition

from shopsys.consumer.dead_letters import Poison
from shopsys.consumer.handlers import HANDLERS
from shopsys.events import Event, InvalidEvent, decode_event

logger = logging.getLogger(__name__)

Partition = tuple[str, int]


def decode(message: Message) -> Event | Poison:
    """The event a message carries, or why it never can be stored."""
    value = message.value()
    if value is None:
        return Poison(message, "empty message value")
    try:
        event = decode_event(value)
    except InvalidEvent as error:
        return Poison(message, f"invalid event: {error}")
    if type(event) not in HANDLERS:
        return Poison(message, f"no handler for {event.schema_} in this version")
    return event


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
    excluded: set[Partition] = field(default_factory=set)  # never commit for these
    held: dict[Partition, int] = field(default_factory=dict)  # commit no further than these

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

    def partitions(self) -> list[Partition]:
        """The partition of each event, in the order of ``events``."""
        return [partition_of(message) for message in self.sources]

    def offsets(self) -> dict[Partition, int]:
        """Where to commit after this batch: past it, but never past a message held back
        (see ``hold``), nor at all for excluded partitions."""
        offsets = next_offsets(self.messages)
        for partition, offset in self.held.items():
            offsets[partition] = min(offsets.get(partition, offset), offset)
        return {p: o for p, o in offsets.items() if p not in self.excluded}

    def hold(self, message: Message) -> None:
        """Commit no further than ``message`` on its partition: it is redelivered."""
        partition, offset = partition_of(message), message.offset() or 0
        self.held[partition] = min(self.held.get(partition, offset), offset)
