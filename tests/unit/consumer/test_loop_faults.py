"""The consumer loop when things go wrong at awkward moments: a rebalance inside the consume
of a retry wait, pauses that fail, a dead-letter topic that refuses a message for good."""

from __future__ import annotations

from typing import Any

from shopsys.consumer.dead_letters import Poison
from tests.unit.consumer.fakes import FakeConsumer, event
from tests.unit.consumer.loop_harness import Harness


def _committed_ids(harness: Harness) -> set[str]:
    return {document["_id"] for document in harness.database["purchases"].find()}


def test_a_revoke_inside_the_consume_of_a_retry_wait_loses_no_message() -> None:
    """consume() runs on_revoke, which replaces the carry-over, and then returns messages:
    they must land in the new carry, not in the list the revoke replaced."""
    harness = Harness(partitions=2, store_failures=2)
    harness.consumer.fail_pauses = 1_000  # the pause never holds: messages keep coming
    ours = [event("ann") for _ in range(10)]
    for purchase in ours:
        harness.consumer.append_event(purchase, partition=0)
    for _ in range(3):
        harness.consumer.append_event(event("bob"), partition=1)
    arriving = [event("ann") for _ in range(3)]

    def revoke_and_deliver(consumer: FakeConsumer) -> None:
        consumer.rebalance_revoke([1])
        for purchase in arriving:  # returned by the very consume() that ran the revoke
            consumer.append_event(purchase, partition=0)

    def revoke_during_the_next_wait() -> None:
        if harness.store.attempts == 2:  # the first retry, on the loop thread: a wait follows
            harness.consumer.schedule(revoke_and_deliver)

    harness.store.before_write = revoke_during_the_next_wait

    harness.loop.run()

    assert {str(p.purchase_id) for p in ours + arriving} <= _committed_ids(harness)
    assert harness.consumer.committed_offsets[0] == len(ours) + len(arriving)
    assert all(1 not in commit for commit in harness.consumer.commits[1:])


def test_when_pausing_fails_the_carry_over_stays_bounded_and_nothing_is_lost() -> None:
    harness = Harness(partitions=1, store_failures=6)
    harness.consumer.fail_pauses = 1_000
    ours = [event("ann") for _ in range(40)]
    for purchase in ours:
        harness.consumer.append_event(purchase, partition=0)
    largest = [0]
    consume = harness.consumer.consume

    def watching(num_messages: int = 1, timeout: float = -1) -> list[Any]:
        largest[0] = max(largest[0], len(harness.loop._carry))
        return consume(num_messages, timeout)

    harness.consumer.consume = watching  # type: ignore[method-assign]

    harness.loop.run()

    assert largest[0] <= 4  # one batch
    assert harness.consumer.seeks, "what did not fit was rewound"
    assert _committed_ids(harness) == {str(p.purchase_id) for p in ours}
    assert harness.consumer.committed_offsets[0] == len(ours)


def test_a_message_the_dead_letter_topic_refuses_parks_its_partition_only() -> None:
    harness = Harness(partitions=2, dlq_refusals=1, park_seconds=0.05)
    before = [event("ann") for _ in range(2)]
    after = [event("ann") for _ in range(5)]
    elsewhere = [event("bob") for _ in range(9)]
    for purchase in before:
        harness.consumer.append_event(purchase, partition=0)
    harness.consumer.append(0, b"not an event")  # offset 2
    for purchase in after:
        harness.consumer.append_event(purchase, partition=0)
    for purchase in elsewhere:
        harness.consumer.append_event(purchase, partition=1)
    parked_seen: list[float] = []
    commits_while_parked: list[int] = []

    def watch(consumer: FakeConsumer) -> None:
        parked = harness.metrics.registry.get_sample_value("shopsys_consumer_parked_partitions")
        parked_seen.append(parked or 0)
        if parked:
            commits_while_parked.append(consumer.committed_offsets.get(0, 0))
            assert harness.loop.problems() == []  # the pod stays ready
        harness.stop_when_drained(consumer)

    harness.consumer.when_idle = watch

    harness.loop.run()

    assert max(parked_seen) == 1
    assert commits_while_parked
    assert max(commits_while_parked) <= 2  # never past the refused one
    assert (0, 2) in harness.consumer.seeks
    assert [p.message.offset() for p in harness.dead_letters.refused] == [2]
    assert [p.message.offset() for p in harness.dead_letters.sent] == [2]  # taken on retry
    assert isinstance(harness.dead_letters.sent[0], Poison)
    everything = before + after + elsewhere
    assert _committed_ids(harness) == {str(p.purchase_id) for p in everything}
    assert harness.consumer.committed_offsets == harness.consumer.end_offsets()
    assert harness.metric("shopsys_consumer_dead_letters_refused_total") == 1
    assert harness.metric("shopsys_consumer_events_dead_lettered_total") == 1
