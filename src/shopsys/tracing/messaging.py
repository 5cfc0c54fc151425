"""Spans of the events' way through Kafka: the produce (web) and the batch and each event's
write (consumer), following the OpenTelemetry messaging semantic conventions.

* ``send <topic>`` (producer): from handing the event to the producer to Kafka's ack; its
  context replaces the request's ``traceparent`` in the message's headers, so it is the
  parent of what the consumer does with the event.
* ``process <topic>`` (consumer): the write of one consumed batch, events and dead letters,
  linked to the context of every message in it (one batch serves many traces; the SDK keeps
  up to ``OTEL_SPAN_LINK_COUNT_LIMIT`` links, 128 by default).
* ``store <schema>`` (consumer), one per event: a child of the ``send`` span that produced
  it, read from the message's ``traceparent``, and linked to its batch's span. The events
  of a batch are written in one bulk operation, so each of these spans covers that operation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Final

from confluent_kafka import Message
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind, StatusCode, Tracer

from shopsys.events import Event
from shopsys.kafka.producer import EventPublisher, Headers, ProduceStatistics
from shopsys.tracing.propagation import context_from_message_headers, headers_with_context

MESSAGING: Final = {"messaging.system": "kafka"}
PURCHASES_COLLECTION: Final = "purchases"


class TracedPublisher(EventPublisher):
    """Publishes through ``inner`` inside a producer span whose context the message carries."""

    def __init__(self, inner: EventPublisher, tracer: Tracer, *, topic: str) -> None:
        self.inner = inner
        self._tracer = tracer
        self._topic = topic
        self._name = f"send {topic}"

    async def publish(self, event: Event, headers: Headers = ()) -> None:
        with self._tracer.start_as_current_span(
            self._name,
            kind=SpanKind.PRODUCER,
            attributes={
                **MESSAGING,
                "messaging.operation.type": "send",
                "messaging.operation.name": "send",
                "messaging.destination.name": self._topic,
                "messaging.kafka.message.key": event.user_id,
                "shopsys.event.schema": event.schema_,
                "shopsys.purchase_id": str(event.purchase_id),
            },
        ):
            await self.inner.publish(event, headers_with_context(headers))

    async def is_ready(self) -> bool:
        return await self.inner.is_ready()

    def problem(self) -> str | None:
        return self.inner.problem()

    def queue_length(self) -> int:
        return self.inner.queue_length()

    def produce_statistics(self) -> ProduceStatistics | None:
        return self.inner.produce_statistics()

    async def close(self) -> None:
        await self.inner.close()


class ConsumerTracing:
    """The consumer loop's spans (see the module's docstring)."""

    def __init__(self, tracer: Tracer, *, topic: str, consumer_group: str) -> None:
        self._tracer = tracer
        self._topic = topic
        self._group = consumer_group
        self._batch_name = f"process {topic}"

    def _attributes(self, operation: str) -> dict[str, str]:
        return {
            **MESSAGING,
            "messaging.operation.type": "process",
            "messaging.operation.name": operation,
            "messaging.destination.name": self._topic,
            "messaging.consumer.group.name": self._group,
        }

    @contextlib.contextmanager
    def batch(self, messages: Sequence[Message], events: int) -> Iterator[Span]:
        links = []
        for message in messages:
            context = context_from_message_headers(message.headers())
            if context is not None:
                links.append(Link(trace.get_current_span(context).get_span_context()))
        with self._tracer.start_as_current_span(
            self._batch_name,
            kind=SpanKind.CONSUMER,
            links=links,
            attributes={
                **self._attributes("process"),
                "messaging.batch.message_count": len(messages),
                "shopsys.batch.events": events,
                "shopsys.batch.poison": len(messages) - events,
            },
        ) as span:
            yield span

    @contextlib.contextmanager
    def writes(self, events: Sequence[Event], messages: Sequence[Message]) -> Iterator[None]:
        """One span per event (``messages[i]`` carried ``events[i]``), open around their
        write; each ends with the write's outcome."""
        batch = trace.get_current_span().get_span_context()
        batch_links = [Link(batch)] if batch.is_valid else []
        spans = [
            self._tracer.start_span(
                f"store {event.schema_}",
                context=context_from_message_headers(message.headers()),
                kind=SpanKind.CONSUMER,
                links=batch_links,
                attributes={
                    **self._attributes("store"),
                    "messaging.destination.partition.id": str(message.partition()),
                    "messaging.kafka.offset": message.offset() or 0,
                    "messaging.kafka.message.key": event.user_id,
                    "db.system.name": "mongodb",
                    "db.collection.name": PURCHASES_COLLECTION,
                    "shopsys.event.schema": event.schema_,
                    "shopsys.purchase_id": str(event.purchase_id),
                },
            )
            for event, message in zip(events, messages, strict=True)
        ]
        try:
            yield
        except BaseException as error:
            for span in spans:
                span.record_exception(error)
                span.set_status(StatusCode.ERROR, f"{type(error).__name__}: {error}")
                span.end()
            raise
        for span in spans:
            span.end()
