"""The dead-letter topic: where events that can never be stored go, with their provenance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from shopsys.kafka.producer import Headers
from shopsys.settings import KafkaSettings

# Header names of a dead letter; values are UTF-8 text.
TOPIC_HEADER = "shopsys.dlq.topic"
PARTITION_HEADER = "shopsys.dlq.partition"
OFFSET_HEADER = "shopsys.dlq.offset"
ERROR_HEADER = "shopsys.dlq.error"
GROUP_HEADER = "shopsys.dlq.consumer_group"
MAX_ERROR_BYTES = 1_000


class DeadLetterError(Exception):
    """The dead-letter topic did not confirm the delivery: retry, do not commit."""


@dataclass(frozen=True)
class Poison:
    """A message that can never be stored, and why."""

    message: Message
    reason: str

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
    """Where poison messages go; ``send`` returns only once every item is durably stored."""

    def send(self, items: Sequence[Poison]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        return None


class KafkaDeadLetterSink(DeadLetterSink):
    """An idempotent, acks=all producer to the dead-letter topic; ``send`` waits for acks."""

    def __init__(self, settings: KafkaSettings, *, timeout: float = 10.0) -> None:
        self._topic = settings.dlq_topic
        self._source_topic = settings.topic
        self._group = settings.consumer_group
        self._timeout = timeout
        self._producer = Producer(
            {
                **settings.client_config(),
                "enable.idempotence": True,
                "acks": "all",
                "linger.ms": 5,
                "message.timeout.ms": int(timeout * 1_000),
            }
        )

    def send(self, items: Sequence[Poison]) -> None:
        """Produce every item and wait until all are acknowledged, or raise."""
        failures: list[KafkaError] = []

        def on_delivery(error: KafkaError | None, _message: Message) -> None:
            if error is not None:
                failures.append(error)

        for item in items:
            try:
                self._producer.produce(
                    self._topic,
                    key=item.message.key(),
                    value=item.message.value(),
                    headers=list(
                        provenance_headers(item, source_topic=self._source_topic, group=self._group)
                    ),
                    on_delivery=on_delivery,
                )
            except (BufferError, KafkaException) as error:
                raise DeadLetterError(f"dead-letter produce failed: {error}") from error
        remaining = self._producer.flush(self._timeout)
        if remaining or failures:
            detail = failures[0].str() if failures else f"{remaining} not acknowledged"
            raise DeadLetterError(f"dead-letter delivery failed: {detail}")

    def close(self) -> None:
        self._producer.flush(self._timeout)
