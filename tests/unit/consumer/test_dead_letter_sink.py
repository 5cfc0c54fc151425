"""The Kafka dead-letter sink against a scripted producer: what is retried, what is refused
for good, and what is never sent twice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, Message, Producer

from shopsys.consumer.dead_letters import (
    VALUE_OMITTED_HEADER,
    DeadLetterError,
    KafkaDeadLetterSink,
    Poison,
)
from shopsys.settings import KafkaSettings

HOLD = "hold"  # stays in flight until released
Outcome = KafkaError | str | None  # None: delivered


class ScriptedProducer(Producer):  # type: ignore[misc]
    """Each produce() takes the next scripted outcome (delivered when the script is empty);
    flush() reports every decided one and leaves held ones in flight."""

    def __init__(self, script: list[Outcome]) -> None:  # no real client
        self.script = script
        self.produced: list[dict[str, Any]] = []
        self.queue: list[tuple[Outcome, Callable[..., None]]] = []

    def produce(self, topic: str, **message: Any) -> None:
        outcome = self.script.pop(0) if self.script else None
        if isinstance(outcome, KafkaException):
            raise outcome
        self.produced.append({"topic": topic, **message})
        self.queue.append((outcome, message["on_delivery"]))

    def release(self) -> None:
        self.queue = [(None, report) for _, report in self.queue]

    def flush(self, timeout: float = -1) -> int:
        held = [(outcome, report) for outcome, report in self.queue if isinstance(outcome, str)]
        for outcome, report in self.queue:
            if not isinstance(outcome, str):
                report(outcome, None)
        self.queue = held
        return len(held)


class Producers:
    def __init__(self, *scripts: list[Outcome]) -> None:
        self.scripts = list(scripts)
        self.made: list[ScriptedProducer] = []

    def __call__(self, _config: dict[str, Any]) -> ScriptedProducer:
        made = ScriptedProducer(self.scripts.pop(0) if self.scripts else [])
        self.made.append(made)
        return made


def _poison(offset: int, value: bytes = b"not an event") -> Poison:
    message = Message(topic="purchases", partition=0, offset=offset, key=b"u1", value=value)
    return Poison(message, "invalid event")


def _sink(producers: Producers) -> KafkaDeadLetterSink:
    return KafkaDeadLetterSink(KafkaSettings(), timeout=0.01, make_producer=producers)


def test_an_item_still_in_flight_is_waited_for_not_sent_again() -> None:
    producers = Producers([None, HOLD])
    sink = _sink(producers)
    items = [_poison(1), _poison(2)]

    with pytest.raises(DeadLetterError, match="not acknowledged"):
        sink.send(items)
    producer = producers.made[0]
    producer.release()
    assert sink.send(items) == []

    assert [m["value"] for m in producer.produced] == [b"not an event"] * 2  # one copy each


def test_a_transient_failure_is_retried_and_raises_until_delivered() -> None:
    producers = Producers([KafkaError(KafkaError._TRANSPORT), None])
    sink = _sink(producers)
    items = [_poison(1), _poison(2)]
    with pytest.raises(DeadLetterError, match="delivery failed"):
        sink.send(items)
    assert sink.send(items) == []
    assert len(producers.made[0].produced) == 3  # the failed one once more, not the other


@pytest.mark.parametrize(
    "code",
    [
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_TOPIC,
    ],
)
def test_a_missing_or_forbidden_topic_refuses_for_good(code: int) -> None:
    producers = Producers([KafkaError(code)])
    refused = _sink(producers).send([_poison(1), _poison(2)])
    assert [item.message.offset() for item in refused] == [1]


def test_a_value_too_large_for_the_topic_is_replaced_by_a_header_saying_so() -> None:
    producers = Producers([KafkaError(KafkaError.MSG_SIZE_TOO_LARGE), None])
    big = _poison(7, b"x" * 5_000)

    assert _sink(producers).send([big]) == []

    stub = producers.made[0].produced[-1]
    assert stub["value"] is None
    assert (VALUE_OMITTED_HEADER, b"5000 bytes") in stub["headers"]
    assert ("shopsys.dlq.offset", b"7") in stub["headers"]


def test_too_large_locally_too_and_refused_if_even_the_header_does_not_fit() -> None:
    too_large = KafkaException(KafkaError(KafkaError.MSG_SIZE_TOO_LARGE))
    producers = Producers([too_large, KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)])
    refused = _sink(producers).send([_poison(7, b"x" * 5_000)])
    assert len(refused) == 1


def test_a_fatal_producer_is_replaced_and_the_item_sent_by_the_new_one() -> None:
    fatal = KafkaError(KafkaError._FATAL, fatal=True)
    producers = Producers([fatal, HOLD])  # the second item stays in flight on the old one
    sink = _sink(producers)
    items = [_poison(1), _poison(2)]

    with pytest.raises(DeadLetterError):
        sink.send(items)
    assert len(producers.made) == 2
    assert sink.send(items) == []
    assert len(producers.made[1].produced) == 2  # both re-sent: the old producer is gone
