"""Decoding, offsets to commit, dead-letter provenance, and the lag gauge."""

from __future__ import annotations

import time

from confluent_kafka import KafkaError, KafkaException, Message
from prometheus_client import CollectorRegistry, Gauge

from shopsys.consumer.batch import Batch, Partition, decode, next_offsets
from shopsys.consumer.dead_letters import Poison, provenance_headers
from shopsys.consumer.lag import LagMonitor
from tests.support.offsets import FakeOffsets
from tests.support.polling import eventually
from tests.unit.consumer.fakes import TOPIC, event


def _message(partition: int, offset: int, value: bytes | None = b"{}") -> Message:
    return Message(topic=TOPIC, partition=partition, offset=offset, value=value)


def test_decode_names_what_is_wrong() -> None:
    good = event()
    assert decode(_message(0, 0, good.to_json())) == good
    missing = decode(_message(0, 1, b'{"schema": "shopsys.purchase.v1"}'))
    assert isinstance(missing, Poison)
    assert missing.reason.startswith("invalid event: purchase_id")
    not_utf8 = decode(_message(0, 2, b"\xff\xfe"))
    assert isinstance(not_utf8, Poison)


def test_offsets_to_commit_are_one_past_the_highest_per_partition() -> None:
    messages = [_message(0, 4), _message(1, 9), _message(0, 7), _message(0, 5)]
    assert next_offsets(messages) == {(TOPIC, 0): 8, (TOPIC, 1): 10}


def test_a_batch_splits_events_poison_and_client_errors() -> None:
    error = Message(topic=TOPIC, partition=0, error=KafkaError(KafkaError._TRANSPORT))
    batch = Batch.of([_message(0, 0, event().to_json()), _message(0, 1, b"x"), error])
    assert len(batch) == 2
    assert len(batch.events) == 1
    assert [item.message.offset() for item in batch.poison] == [1]


def test_dead_letter_headers_carry_the_provenance() -> None:
    item = Poison(_message(3, 42, b"x"), "invalid event: " + "e" * 5_000)
    headers = dict(provenance_headers(item, source_topic=TOPIC, group="g1"))
    assert headers["shopsys.dlq.topic"] == TOPIC.encode()
    assert headers["shopsys.dlq.partition"] == b"3"
    assert headers["shopsys.dlq.offset"] == b"42"
    assert headers["shopsys.dlq.consumer_group"] == b"g1"
    error = headers["shopsys.dlq.error"]
    assert isinstance(error, bytes)
    assert error.startswith(b"invalid event: ")
    assert len(error) == 1_000


P0, P1 = (TOPIC, 0), (TOPIC, 1)


def _monitor(owned: set[Partition]) -> tuple[FakeOffsets, Gauge, LagMonitor]:
    offsets = FakeOffsets()
    gauge = Gauge("lag", "lag", ["topic", "partition"], registry=CollectorRegistry())
    return offsets, gauge, LagMonitor(offsets, gauge, lambda: owned, interval=0.01)


def _labels(gauge: Gauge) -> dict[str, float]:
    return {s.labels["partition"]: s.value for m in gauge.collect() for s in m.samples}


def test_lag_is_high_watermark_minus_committed() -> None:
    offsets, gauge, monitor = _monitor({P0, P1})
    offsets.high = {P0: 12, P1: 3}
    offsets.low = {P1: 1}
    offsets.committed_offsets = {P0: 5}  # partition 1: nothing committed yet
    monitor.refresh()
    assert monitor.lag == {P0: 7, P1: 2}
    assert _labels(gauge) == {"0": 7.0, "1": 2.0}


def test_revoked_partitions_leave_the_gauge() -> None:
    owned = {P0, P1}
    _offsets, gauge, monitor = _monitor(owned)
    monitor.refresh()
    owned.discard(P0)  # a revoke: the loop drops it, then tells the monitor
    monitor.forget([P0])
    assert _labels(gauge) == {"1": 0.0}
    owned.discard(P1)
    monitor.refresh()
    assert _labels(gauge) == {}


def test_the_monitor_thread_survives_broker_errors() -> None:
    offsets, _gauge, monitor = _monitor({P0})
    offsets.fail = KafkaException(KafkaError(KafkaError._TRANSPORT))
    monitor.start()
    try:
        time.sleep(0.05)  # several failed refreshes, logged not raised
        offsets.fail = None
        offsets.high = {P0: 4}
        eventually(
            lambda: True if monitor.lag == {P0: 4} else None,
            timeout=2,
            every=0.01,
            what=lambda: f"lag {{P0: 4}}, last {monitor.lag}",
        )
    finally:
        monitor.stop()
