"""The dead-letter topic: where events that can never be stored go, with their provenance."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from shopsys.kafka.producer import Headers
from shopsys.settings import KafkaSettings

logger = logging.getLogger(__name__)

# Header names of a dead letter; values are UTF-8 text.
TOPIC_HEADER = "shopsys.dlq.topic"
PARTITION_HEADER = "shopsys.dlq.partition"
OFFSET_HEADER = "shopsys.dlq.offset"
ERROR_HEADER = "shopsys.dlq.error"
GROUP_HEADER = "shopsys.dlq.consumer_group"
VALUE_OMITTED_HEADER = "shopsys.dlq.value_omitted"  # the value was too large to copy
MAX_ERROR_BYTES = 1_000

# Delivery errors that waiting does not heal: the topic is missing or forbidden.
REFUSING_TOPIC: Final = frozenset(
    {
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError.TOPIC_EXCEPTION,
    }
)
TOO_LARGE: Final = frozenset({KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE})


class DeadLetterError(Exception):
    """The dead-letter topic did not confirm the delivery yet: retry, do not commit."""


@dataclass(frozen=True)
class Poison:
    """A message that can never be stored, and why."""

    message: Message
    reason: str

    @property
    def source(self) -> tuple[str | None, int | None, int | None]:
        return self.message.topic(), self.message.partition(), self.message.offset()

    def __str__(self) -> str:
        return f"partition {self.message.partition()} offset {self.message.offset()}: {self.reason}"


def provenance_headers(item: Poison, *, source_topic: str, group: str) -> Headers:
    message = item.message
    return [
        (TOPIC_HEADER, (message.topic() or source_topic).encode()),
        (PARTITION_HEADER, str(message.partition()).encode()),
        (OFFSET_HEADER, str(message.offset()).encode()),
        (ERROR_HEADER, item.reason.encode()[:MAX_ERROR_BYTES]),
        (GROUP_HEADER, group.encode()),
    ]


class DeadLetterSink:
    """Where poison messages go. ``send`` returns once every item is durably stored or
    refused for good (those it returns), and raises ``DeadLetterError`` otherwise."""

    def send(self, items: Sequence[Poison]) -> list[Poison]:
        raise NotImplementedError

    def close(self) -> None:
        return None


Source = tuple[str | None, int | None, int | None]
DeliveryState = Literal["new", "in flight", "delivered", "failed"]


class _Delivery:
    """One item's way to the topic, kept across ``send`` calls until all of them settle."""

    def __init__(self) -> None:
        self.state: DeliveryState = "new"
        self.error: KafkaError | None = None
        self.stub = False  # sent without its value, which the topic would not take
        self.producer = 0  # which producer sent it (they are numbered as they are replaced)

    def report(self, error: KafkaError | None, _message: Message | None = None) -> None:
        self.state, self.error = ("delivered", None) if error is None else ("failed", error)


class KafkaDeadLetterSink(DeadLetterSink):
    """An idempotent, acks=all producer to the dead-letter topic; ``send`` waits for acks.

    An item still in flight when ``send`` gives up is not produced again by the retry (the
    retry waits for it), so a slow topic gets no copies. A value the topic finds too large
    is replaced by a header saying so (the provenance headers say where it still is); a
    fatal producer error replaces the producer.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        timeout: float = 10.0,
        make_producer: Callable[[dict[str, Any]], Producer] = Producer,
    ) -> None:
        self._topic = settings.dlq_topic
        self._source_topic = settings.topic
        self._group = settings.consumer_group
        self._timeout = timeout
        self._config = {
            **settings.client_config(),
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            # In flight until acknowledged or refused: a timeout would make a doubtful copy.
            "message.timeout.ms": 0,
            # A missing topic is refused after this long instead of waited for.
            "topic.metadata.propagation.max.ms": 5_000,
        }
        self._make_producer = make_producer
        self._producer = make_producer(self._config)
        self._producer_number = 0
        self._deliveries: dict[Source, _Delivery] = {}

    def send(self, items: Sequence[Poison]) -> list[Poison]:
        deliveries = [self._deliveries.setdefault(item.source, _Delivery()) for item in items]
        for item, delivery in zip(items, deliveries, strict=True):
            lost = delivery.state == "in flight" and delivery.producer != self._producer_number
            if delivery.state in ("new", "failed") or lost:
                self._produce(item, delivery)
        self._producer.flush(self._timeout)
        too_large = [
            (item, delivery)
            for item, delivery in zip(items, deliveries, strict=True)
            if delivery.error is not None
            and delivery.error.code() in TOO_LARGE
            and not delivery.stub
        ]
        for item, delivery in too_large:
            delivery.stub = True
            self._produce(item, delivery)
        if too_large:
            self._producer.flush(self._timeout)
        refused = [
            item
            for item, delivery in zip(items, deliveries, strict=True)
            if self._refused(delivery)
        ]
        for item in items:
            self._deliveries.pop(item.source, None)
        return refused

    def _refused(self, delivery: _Delivery) -> bool:
        """Whether the topic refused the item for good; raises while it may still take it."""
        if delivery.state == "delivered":
            return False
        if delivery.state != "failed" or delivery.error is None:
            raise DeadLetterError("dead-letter delivery not acknowledged in time")
        error = delivery.error
        if error.fatal() and delivery.producer == self._producer_number:
            self._replace_producer(error)
        if error.code() in REFUSING_TOPIC or error.code() in TOO_LARGE:
            return True
        raise DeadLetterError(f"dead-letter delivery failed: {error.str()}")

    def _produce(self, item: Poison, delivery: _Delivery) -> None:
        headers = list(provenance_headers(item, source_topic=self._source_topic, group=self._group))
        value = item.message.value()
        if delivery.stub:
            headers.append((VALUE_OMITTED_HEADER, f"{len(value or b'')} bytes".encode()))
            value = None
        delivery.state, delivery.error = "in flight", None
        delivery.producer = self._producer_number
        try:
            self._producer.produce(
                self._topic,
                key=item.message.key(),
                value=value,
                headers=headers,
                on_delivery=delivery.report,
            )
        except BufferError as error:
            delivery.state = "new"
            raise DeadLetterError(f"dead-letter produce failed: {error}") from error
        except KafkaException as error:
            delivery.report(error.args[0])

    def _replace_producer(self, error: KafkaError) -> None:
        logger.error("dead-letter producer failed for good (%s): replacing it", error.str())
        self._producer = self._make_producer(self._config)
        self._producer_number += 1

    def close(self) -> None:
        self._producer.flush(self._timeout)
