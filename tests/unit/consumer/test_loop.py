"""The consumer loop against an in-memory Kafka and mongomock: commits, DLQ, retries, revokes.

Past 300 lines: the loop's cases share one fake consumer and store, and read best together.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from shopsys.consumer import offsets
from tests.unit.consumer.fakes import FakeConsumer, event, fixed_event
from tests.unit.consumer.loop_harness import Harness


def test_every_event_is_stored_once_and_every_offset_committed() -> None:
    harness = Harness()
    events = [event(f"user-{i % 5}") for i in range(23)]
    for purchase in events:
        harness.consumer.append_event(purchase)
    harness.consumer.append_event(events[0], partition=2)  # a redelivered duplicate

    harness.loop.run()

    assert harness.stored_ids() == {str(purchase.purchase_id) for purchase in events}
    assert harness.consumer.committed_offsets == harness.consumer.end_offsets()
    assert harness.metric("shopsys_consumer_events_consumed_total") == 24
    assert harness.metric("shopsys_consumer_events_written_total") == 23
    assert harness.metric("shopsys_consumer_duplicates_ignored_total") == 1
    assert harness.consumer.closed
    assert harness.dead_letters.closed
    assert harness.loop.closed.is_set()
    assert not harness.loop.crashed


def test_a_redelivered_event_or_an_earlier_attempt_changes_nothing_that_is_stored() -> None:
    harness = Harness(partitions=1)
    first = fixed_event(5)
    harness.consumer.append_event(first)
    harness.loop.run()
    earlier = first.model_copy(
        update={"username": "Mallory", "created_at": fixed_event(1).created_at}
    )
    again = Harness(partitions=1, database=harness.database)  # a new consumer, same database
    again.consumer.append_event(first)
    again.consumer.append_event(earlier)

    again.loop.run()

    stored = harness.database["purchases"].find_one({"_id": str(first.purchase_id)})
    assert stored["username"] is None
    assert stored["created_at"].minute == 5
    assert again.metric("shopsys_consumer_duplicates_ignored_total") == 2
    assert again.metric("shopsys_consumer_events_written_total") == 0


def test_poison_goes_to_the_dead_letters_with_its_reason_and_never_blocks() -> None:
    harness = Harness(partitions=1)
    good = [event() for _ in range(3)]
    wrong_schema = good[0].to_json().replace(b"shopsys.purchase.v1", b"shopsys.purchase.v9")
    invalid_total = event().model_copy(update={"total_cents": 1}).to_json()
    harness.consumer.append_event(good[0], partition=0)
    harness.consumer.append(0, b"{not json")
    harness.consumer.append(0, wrong_schema)
    harness.consumer.append_event(good[1], partition=0)
    harness.consumer.append(0, invalid_total)
    harness.consumer.append(0, None)
    harness.consumer.append_event(good[2], partition=0)

    harness.loop.run()

    assert harness.stored_ids() == {str(purchase.purchase_id) for purchase in good}
    reasons = {item.message.offset(): item.reason for item in harness.dead_letters.sent}
    assert sorted(reasons) == [1, 2, 4, 5]
    assert "json" in reasons[1].lower()
    assert reasons[2].startswith("invalid event: schema")
    assert "total_cents" in reasons[4]
    assert reasons[5] == "empty message value"
    assert harness.consumer.committed_offsets == {0: 7}
    assert harness.metric("shopsys_consumer_events_dead_lettered_total") == 4


def test_mongodb_down_pauses_retries_without_committing_then_resumes() -> None:
    harness = Harness(partitions=2, store_failures=3)
    commits_during_failure: list[int] = []
    ready_during_failure: list[bool] = []

    def observe() -> None:
        if harness.store.failures:
            commits_during_failure.append(len(harness.consumer.commits))
            ready_during_failure.append(harness.loop.write_problem is None)

    harness.store.before_write = observe
    events = [event(f"u{i}") for i in range(6)]
    for purchase in events:
        harness.consumer.append_event(purchase)

    harness.loop.run()

    assert harness.stored_ids() == {str(purchase.purchase_id) for purchase in events}
    assert commits_during_failure == [0, 0, 0], "nothing is committed while writes fail"
    assert ready_during_failure == [True, False, False]
    assert harness.consumer.pause_calls[0] == {0, 1}, "all assigned partitions were paused"
    assert harness.consumer.paused == set()
    assert harness.loop.write_problem is None
    assert harness.metric("shopsys_consumer_write_failures_total") == 3
    assert harness.consumer.committed_offsets == harness.consumer.end_offsets()


def test_dead_letter_failure_retries_without_writing_the_events_twice() -> None:
    harness = Harness(partitions=1, dlq_failures=2)
    harness.consumer.append_event(event(), partition=0)
    harness.consumer.append(0, b"garbage")

    harness.loop.run()

    assert harness.store.attempts == 1
    assert [item.message.offset() for item in harness.dead_letters.sent] == [1]
    assert harness.consumer.committed_offsets == {0: 2}


def test_stop_while_mongodb_is_down_commits_nothing_and_closes() -> None:
    harness = Harness(partitions=1, store_failures=1_000)
    harness.consumer.when_idle = None
    harness.store.before_write = lambda: harness.loop.stop() if harness.store.attempts > 2 else None
    harness.consumer.append_event(event(), partition=0)

    harness.loop.run()

    assert harness.consumer.commits == []
    assert harness.stored_ids() == set()
    assert harness.consumer.closed
    assert harness.loop.closed.is_set()


def test_a_commit_covers_only_stored_events_and_overlaps_the_next_write() -> None:
    harness = Harness(partitions=1)
    events = [event() for _ in range(12)]  # three batches of 4
    for purchase in events:
        harness.consumer.append_event(purchase, partition=0)
    writes_started = [threading.Event() for _ in range(3)]
    commit = harness.consumer.commit
    committed: list[int] = []

    def commit_after_checking(*, offsets: Any, asynchronous: bool = True) -> None:
        (offset,) = (tp.offset for tp in offsets)
        assert {str(e.purchase_id) for e in events[:offset]} <= harness.stored_ids()
        if offset < len(events):  # the next batch's write is already under way
            assert writes_started[offset // 4].wait(5), "the commit held up the next write"
        committed.append(offset)
        commit(offsets=offsets, asynchronous=asynchronous)

    def count_write() -> None:
        next(started for started in writes_started if not started.is_set()).set()

    harness.consumer.commit = commit_after_checking  # type: ignore[method-assign]
    harness.store.before_write = count_write

    harness.loop.run()

    assert committed == [4, 8, 12]
    assert harness.stored_ids() == {str(purchase.purchase_id) for purchase in events}


def test_stop_during_a_write_finishes_the_batch_and_commits_it() -> None:
    harness = Harness(partitions=1)
    harness.consumer.when_idle = None
    harness.store.before_write = harness.loop.stop  # SIGTERM arrives mid-batch
    events = [event() for _ in range(3)]
    for purchase in events:
        harness.consumer.append_event(purchase, partition=0)

    harness.loop.run()

    assert harness.stored_ids() == {str(purchase.purchase_id) for purchase in events}
    assert harness.consumer.commits == [{0: 3}]
    assert harness.consumer.closed


def test_partitions_revoked_during_a_retry_are_never_committed() -> None:
    harness = Harness(partitions=3, store_failures=2)
    for partition in range(3):
        harness.consumer.append_event(event(), partition=partition)
    harness.store.before_write = lambda: (
        harness.consumer.schedule(lambda consumer: consumer.rebalance_revoke([1]))
        if harness.store.attempts == 2
        else None
    )

    harness.loop.run()

    assert all(1 not in commit for commit in harness.consumer.commits)
    assert harness.consumer.committed_offsets == {0: 1, 2: 1}
    assert harness.loop.assigned() == set()  # closed: everything revoked


def test_partitions_assigned_during_a_retry_join_the_pause() -> None:
    harness = Harness(partitions=3, store_failures=2)
    harness.consumer.append_event(event(), partition=0)
    harness.consumer.append_event(event(), partition=2)
    harness.consumer.subscribe = _subscribe_only_to(harness.consumer, [0])  # type: ignore[method-assign]
    harness.store.before_write = lambda: (
        harness.consumer.schedule(lambda consumer: consumer.rebalance_assign([2]))
        if harness.store.attempts == 2
        else None
    )

    harness.loop.run()

    assert {2} in harness.consumer.pause_calls, "a partition assigned mid-retry is paused"
    assert harness.consumer.committed_offsets == {0: 1, 2: 1}


def _subscribe_only_to(consumer: FakeConsumer, partitions: list[int]) -> Any:
    def subscribe(topics: list[str], **callbacks: Any) -> None:
        consumer._callbacks = callbacks
        consumer.schedule(lambda c: c.rebalance_assign(partitions))

    return subscribe


def test_a_failed_commit_is_counted_and_the_next_batch_covers_it() -> None:
    harness = Harness(partitions=1)
    harness.consumer.fail_commits = 1
    for _ in range(6):
        harness.consumer.append_event(event(), partition=0)

    harness.loop.run()

    assert harness.metric("shopsys_consumer_commit_failures_total") == 1
    assert harness.consumer.committed_offsets == {0: 6}


def test_a_refused_commit_is_retried_while_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mid-rebalance the broker refuses a commit; with nothing more to consume, the loop
    must still commit, or the partition shows its old lag to the autoscaler for good."""
    monkeypatch.setattr(offsets, "RETRY_SECONDS", 0.01)
    harness = Harness(partitions=1)
    harness.consumer.fail_commits = 1
    for _ in range(3):  # one batch
        harness.consumer.append_event(event(), partition=0)
    committed_while_running: list[dict[int, int]] = []
    deadline = time.monotonic() + 5

    def stop_once_committed(consumer: FakeConsumer) -> None:
        if consumer.committed_offsets == consumer.end_offsets() or time.monotonic() > deadline:
            committed_while_running.append(dict(consumer.committed_offsets))
            harness.loop.stop()

    harness.consumer.when_idle = stop_once_committed

    harness.loop.run()

    assert committed_while_running == [{0: 3}]
    assert harness.metric("shopsys_consumer_commit_failures_total") == 1


def test_a_refused_commit_is_retried_in_the_revoke_then_forgotten() -> None:
    harness = Harness(partitions=2)
    harness.consumer.fail_commits = 2  # the batch's commit, then the retry in the revoke
    harness.consumer.append_event(event(), partition=0)
    harness.consumer.append_event(event(), partition=1)

    def revoke_after_the_refused_commit() -> None:
        harness.consumer.schedule(lambda consumer: consumer.rebalance_revoke([0]))

    harness.store.before_write = revoke_after_the_refused_commit

    harness.loop.run()

    assert harness.metric("shopsys_consumer_commit_failures_total") == 2
    assert all(0 not in commit for commit in harness.consumer.commits), "not ours any more"
    assert harness.consumer.committed_offsets == {1: 1}, "partition 1 stayed ours"


def test_consume_errors_are_skipped_and_not_committed_for() -> None:
    harness = Harness(partitions=1)
    harness.consumer.append_error(0)
    harness.loop.run()
    assert harness.consumer.commits == []
    assert harness.metric("shopsys_consumer_events_consumed_total") == 0


def test_an_unexpected_error_marks_the_loop_crashed_and_still_closes() -> None:
    harness = Harness(partitions=1)

    def explode(_consumer: FakeConsumer) -> None:
        raise ValueError("bug")

    harness.consumer.when_idle = explode
    with pytest.raises(ValueError, match="bug"):
        harness.loop.run()
    assert harness.loop.crashed
    assert harness.consumer.closed


def test_a_revoke_waits_for_the_write_in_flight_and_commits_it_first() -> None:
    harness = Harness(partitions=2)
    harness.consumer.append_event(event(), partition=0)
    harness.consumer.append_event(event(), partition=1)

    def slow_write() -> None:
        if harness.store.attempts == 1:
            harness.consumer.schedule(lambda consumer: consumer.rebalance_revoke([0]))
            time.sleep(0.1)  # the revoke arrives while this write is in flight

    harness.store.before_write = slow_write

    harness.loop.run()

    assert harness.consumer.commits[0] == {0: 1, 1: 1}, "committed inside the revoke"
    assert harness.consumer.committed_offsets == {0: 1, 1: 1}
    assert len(harness.stored_ids()) == 2


def test_readiness_does_not_wait_for_partitions() -> None:
    """A surge pod beyond the partition count, or any pod during a Kafka outage, owns no
    partition and still serves the management API."""
    harness = Harness(partitions=1)
    assert harness.loop.assigned() == set()
    assert harness.loop.problems() == []
    harness.loop.stop()
    assert harness.loop.problems() == ["shutting down"]
