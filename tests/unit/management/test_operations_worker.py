"""The probe worker's side of the deadlines: its reads stop at a share of the request's
timeout, every failure becomes an ``{"error": ...}`` answer, and the offsets read's many
requests share one deadline instead of each getting the whole timeout."""

from __future__ import annotations

import concurrent.futures
import io
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
from confluent_kafka import KafkaException

from shopsys.consumer.lag import KafkaOffsetSource, OffsetSource
from shopsys.management.operations.kafka_reads import ReadError, describe_group
from shopsys.management.operations.probe_worker import READ_SHARE, Reads, serve
from tests.support.kafka_admin import FakeFuture
from tests.support.offsets import FakeOffsets


class Admin:
    """Stands in for the AdminClient; ``outcomes`` are taken one per request."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.asked: list[float] = []

    def describe_consumer_groups(self, groups: list[str], *, request_timeout: float) -> Any:
        self.asked.append(request_timeout)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception) and not isinstance(outcome, TimeoutError):
            raise outcome
        return {groups[0]: FakeFuture(outcome)}


def _offsets(fail: BaseException | None = None) -> FakeOffsets:
    """One partition, committed."""
    return FakeOffsets(committed={("t", 0): 3}, high={("t", 0): 5}, fail=fail)


def _reads(admin: Admin, source: OffsetSource | None = None) -> Reads:
    return Reads(
        source=source or _offsets(),
        admin=admin,
        topic="t",
        dlq_topic="t.dlq",
        group="g",
        timeout=4.0,
    )


def _ask(reads: Reads, read: str, timeout: float) -> dict[str, Any]:
    return reads.answer(json.dumps({"read": read, "timeout": timeout}).encode())


def test_describe_group_turns_a_future_timeout_into_a_read_error() -> None:
    admin = Admin(concurrent.futures.TimeoutError())
    with pytest.raises(ReadError, match=r"describing group g failed: no answer in 2\.0s"):
        describe_group(admin, "g", "t", timeout=2.0)


def test_a_group_read_that_times_out_is_an_answer_within_its_share_of_the_timeout() -> None:
    admin = Admin(concurrent.futures.TimeoutError())
    answer = _ask(_reads(admin), "group", 2.5)
    assert answer == {"error": "describing group g failed: no answer in 2.0s"}
    assert admin.asked == [pytest.approx(READ_SHARE * 2.5)]
    assert READ_SHARE <= 0.8  # the parent's grace is added on top of the whole timeout


def test_offsets_reads_share_a_deadline_of_their_share_of_the_timeout() -> None:
    source = _offsets()
    answer = _ask(_reads(Admin(), source), "offsets", 3.0)
    assert answer["ok"]["partitions"] == [{"partition": 0, "high": 5, "position": 3}]
    assert source.deadlines == [pytest.approx(READ_SHARE * 3.0)]
    timed_out = _ask(_reads(Admin(), _offsets(TimeoutError())), "offsets", 3.0)
    assert timed_out == {"error": "no answer from Kafka in 2.4s"}


def test_the_request_timeout_never_exceeds_the_setup_timeout() -> None:
    admin = Admin(concurrent.futures.TimeoutError())
    _ask(_reads(admin), "group", 60.0)
    assert admin.asked == [pytest.approx(READ_SHARE * 4.0)]


def test_any_failure_is_answered_and_the_worker_serves_the_next_request() -> None:
    admin = Admin(RuntimeError("librdkafka said no"), concurrent.futures.TimeoutError())
    reads = _reads(admin)
    read_end, write_end = os.pipe()
    requests = [{"read": "group", "timeout": 1.0}] * 2 + [{"read": "offsets", "timeout": 1.0}]
    setup = {"idle_seconds": 5}
    os.write(write_end, b"".join(json.dumps(line).encode() + b"\n" for line in [setup, *requests]))
    os.write(write_end, b"not json\n")
    os.close(write_end)
    out = io.BytesIO()
    try:
        assert serve(read_end, out, connect=lambda _setup: reads) == 0
    finally:
        os.close(read_end)
    answers = [json.loads(line) for line in out.getvalue().splitlines()]
    assert answers[0] == {"error": "the read failed: RuntimeError: librdkafka said no"}
    assert answers[1] == {"error": "describing group g failed: no answer in 0.8s"}
    assert "ok" in answers[2]
    assert answers[3]["error"].startswith("the read failed: JSONDecodeError")


@pytest.fixture
def unreachable() -> Iterator[tuple[KafkaOffsetSource, list[float]]]:
    now = [1000.0]
    source = KafkaOffsetSource(
        {"bootstrap.servers": "127.0.0.1:1", "log_level": 0}, "g", timeout=5.0, clock=lambda: now[0]
    )
    yield source, now
    source.close()


def test_kafka_offset_requests_wait_only_what_is_left_of_the_deadline(
    unreachable: tuple[KafkaOffsetSource, list[float]],
) -> None:
    source, _ = unreachable
    started = time.monotonic()
    with pytest.raises(KafkaException), source.deadline(0.3):
        source.committed([("t", 0)])  # 5 s (its setup timeout) without the deadline
    assert time.monotonic() - started < 2.0


def test_kafka_offset_requests_do_not_start_once_the_deadline_passed(
    unreachable: tuple[KafkaOffsetSource, list[float]],
) -> None:
    source, now = unreachable
    started = time.monotonic()
    with source.deadline(1.0):
        now[0] += 1.0
        with pytest.raises(TimeoutError):
            source.watermarks([("t", 0), ("t", 1)], latest=True)
    assert time.monotonic() - started < 1.0
