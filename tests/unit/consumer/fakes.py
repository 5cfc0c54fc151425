"""Fakes that subclass the real interfaces: a Kafka consumer, a dead-letter sink, a store."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from pymongo.errors import AutoReconnect

from shopsys.consumer.dead_letters import DeadLetterError, DeadLetterSink, Poison
from shopsys.events import PurchasePlaced, purchase_placed
from shopsys.models import Product
from shopsys.store import PurchaseStore, WriteSummary

TOPIC = "purchases"
MUG = Product(id="p-001", name="Mug", price_cents=1250)


def event(user_id: str = "u1", quantity: int = 1) -> PurchasePlaced:
    return purchase_placed(
        purchase_id=uuid.uuid4(), user_id=user_id, username=None, product=MUG, quantity=quantity
    )


def fixed_event(minutes: int, user_id: str = "u1") -> PurchasePlaced:
    made = event(user_id)
    return made.model_copy(update={"created_at": datetime(2026, 1, 1, 0, minutes, tzinfo=UTC)})


Action = Callable[["FakeConsumer"], None]


class FakeConsumer(Consumer):  # type: ignore[misc]
    """An in-memory partitioned log with one consumer's positions, commits and pauses.

    Like the real client, rebalance callbacks run inside ``consume()``: ``schedule`` queues
    an action (a revoke, an assignment) for the next call. ``when_idle`` runs when a consume
    finds nothing to deliver (tests stop the loop there).
    """

    def __init__(self, partitions: int = 3, topic: str = TOPIC) -> None:  # no real client
        self.topic = topic
        self.partitions = partitions
        self.logs: dict[int, list[Message]] = {p: [] for p in range(partitions)}
        self.positions: dict[int, int] = {}
        self.committed_offsets: dict[int, int] = {}
        self.commits: list[dict[int, int]] = []
        self.assigned: set[int] = set()
        self.paused: set[int] = set()
        self.pause_calls: list[set[int]] = []
        self.pending: list[Action] = []
        self.when_idle: Action | None = None
        self.fail_commits = 0
        self.fail_pauses = 0  # the next pauses raise, as the real client can
        self.seeks: list[tuple[int, int]] = []
        self.closed = False
        self._callbacks: dict[str, Any] = {}

    # --- test helpers -----------------------------------------------------------------

    def append(
        self,
        partition: int,
        value: bytes | None,
        *,
        key: bytes | None = b"k",
        headers: list[tuple[str, bytes]] | None = None,
    ) -> Message:
        offset = len(self.logs[partition])
        message = Message(
            topic=self.topic,
            partition=partition,
            offset=offset,
            key=key,
            value=value,
            headers=headers,
        )
        self.logs[partition].append(message)
        return message

    def append_event(
        self,
        purchase: PurchasePlaced,
        partition: int | None = None,
        *,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> Message:
        chosen = (
            sum(purchase.user_id.encode()) % self.partitions if partition is None else partition
        )
        return self.append(
            chosen, purchase.to_json(), key=purchase.user_id.encode(), headers=headers
        )

    def append_error(self, partition: int) -> None:
        self.logs[partition].append(
            Message(topic=self.topic, partition=partition, error=KafkaError(KafkaError._TRANSPORT))
        )

    def schedule(self, action: Action) -> None:
        self.pending.append(action)

    def rebalance_assign(self, partitions: Sequence[int]) -> None:
        self._callbacks["on_assign"](self, [TopicPartition(self.topic, p) for p in partitions])
        for partition in partitions:
            self.assigned.add(partition)
            self.positions[partition] = self.committed_offsets.get(partition, 0)

    def rebalance_revoke(self, partitions: Sequence[int]) -> None:
        self._callbacks["on_revoke"](self, [TopicPartition(self.topic, p) for p in partitions])
        for partition in partitions:
            self.assigned.discard(partition)
            self.paused.discard(partition)
            self.positions.pop(partition, None)

    def end_offsets(self) -> dict[int, int]:
        return {p: len(log) for p, log in self.logs.items()}

    # --- the Consumer interface ----------------------------------------------------------

    def subscribe(self, topics: list[str], **callbacks: Any) -> None:
        assert topics == [self.topic]
        self._callbacks = callbacks
        self.schedule(lambda consumer: consumer.rebalance_assign(range(consumer.partitions)))

    def consume(self, num_messages: int = 1, timeout: float = -1) -> list[Message]:
        while self.pending:
            self.pending.pop(0)(self)
        delivered: list[Message] = []
        for partition in sorted(self.assigned - self.paused):
            log = self.logs[partition]
            while self.positions[partition] < len(log) and len(delivered) < num_messages:
                delivered.append(log[self.positions[partition]])
                self.positions[partition] += 1
        if not delivered:
            if self.when_idle is not None:
                self.when_idle(self)
            time.sleep(min(max(timeout, 0), 0.002))
        return delivered

    def commit(self, *, offsets: list[TopicPartition], asynchronous: bool = True) -> None:
        assert asynchronous is False, "the loop commits synchronously"
        if self.fail_commits:
            self.fail_commits -= 1
            raise KafkaException(KafkaError(KafkaError.REBALANCE_IN_PROGRESS))
        made = {tp.partition: tp.offset for tp in offsets}
        for partition in made:
            assert partition in self.assigned, "committed a partition it does not own"
        self.commits.append(made)
        self.committed_offsets.update(made)

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(self.topic, p) for p in sorted(self.assigned)]

    def incremental_assign(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.assigned.add(tp.partition)
            self.positions[tp.partition] = self.committed_offsets.get(tp.partition, 0)

    def pause(self, partitions: list[TopicPartition]) -> None:
        if self.fail_pauses:
            self.fail_pauses -= 1
            raise KafkaException(KafkaError(KafkaError._STATE))
        self.paused.update(tp.partition for tp in partitions)
        self.pause_calls.append({tp.partition for tp in partitions})

    def seek(self, partition: TopicPartition) -> None:
        if partition.partition not in self.assigned:
            raise KafkaException(KafkaError(KafkaError._STATE))
        self.positions[partition.partition] = partition.offset
        self.seeks.append((partition.partition, partition.offset))

    def resume(self, partitions: list[TopicPartition]) -> None:
        self.paused.difference_update(tp.partition for tp in partitions)

    def committed(self, partitions: list[TopicPartition], timeout: float = -1) -> list[Any]:
        return [
            TopicPartition(tp.topic, tp.partition, self.committed_offsets.get(tp.partition, -1001))
            for tp in partitions
        ]

    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: float = -1, cached: bool = False
    ) -> tuple[int, int]:
        return 0, len(self.logs[partition.partition])

    def close(self) -> None:
        if self.assigned:
            self.rebalance_revoke(sorted(self.assigned))
        self.closed = True


class RecordingDeadLetters(DeadLetterSink):
    """Keeps what was dead-lettered; fails the first ``failures`` sends, and refuses for good
    the first ``refusals`` items (as a missing or forbidden topic does)."""

    def __init__(self, failures: int = 0, refusals: int = 0) -> None:
        self.sent: list[Poison] = []
        self.refused: list[Poison] = []
        self.failures = failures
        self.refusals = refusals
        self.closed = False

    def send(self, items: Sequence[Poison]) -> list[Poison]:
        if self.failures:
            self.failures -= 1
            raise DeadLetterError("broker unavailable")
        refused = list(items[: self.refusals])
        self.refusals -= len(refused)
        self.refused.extend(refused)
        self.sent.extend(item for item in items if item not in refused)
        return refused

    def close(self) -> None:
        self.closed = True


class FlakyStore(PurchaseStore):
    """The real store (on mongomock) whose first ``failures`` writes find MongoDB down."""

    def __init__(self, database: Any, failures: int = 0) -> None:
        super().__init__(database)
        self.failures = failures
        self.attempts = 0
        self.before_write: Callable[[], None] | None = None

    def store_purchases(self, events: Sequence[PurchasePlaced]) -> WriteSummary:
        self.attempts += 1
        if self.before_write is not None:
            self.before_write()
        if self.failures:
            self.failures -= 1
            raise AutoReconnect("connection refused")
        return super().store_purchases(events)
