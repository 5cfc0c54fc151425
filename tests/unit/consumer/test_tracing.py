"""The consumer loop traced: a span per batch linked to its messages' contexts, and a span per
event that continues the trace the message carries."""

from __future__ import annotations

import secrets

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode

from shopsys.tracing.messaging import ConsumerTracing
from tests.support.spans import MemoryTracing, hex_span_id, hex_trace_id
from tests.unit.consumer.fakes import TOPIC, event
from tests.unit.consumer.test_loop import Harness


def _traced(**kwargs: int) -> tuple[Harness, MemoryTracing]:
    memory = MemoryTracing("shopsys-consumer")
    tracing = ConsumerTracing(memory.tracing.tracer, topic=TOPIC, consumer_group="group")
    return Harness(tracing=tracing, **kwargs), memory


def _traceparent() -> tuple[str, str, bytes]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-01".encode()


def _parent(span: ReadableSpan) -> tuple[str, str] | None:
    if span.parent is None:
        return None
    return f"{span.parent.trace_id:032x}", f"{span.parent.span_id:016x}"


def test_each_event_continues_its_trace_and_its_batch_links_them_all() -> None:
    harness, memory = _traced(partitions=1)
    sent = []
    for _ in range(3):
        trace_id, span_id, traceparent = _traceparent()
        purchase = event()
        harness.consumer.append_event(purchase, 0, headers=[("traceparent", traceparent)])
        sent.append((trace_id, span_id, str(purchase.purchase_id)))
    harness.consumer.append(0, b"{poison")  # dead-lettered, in the batch span, no store span

    harness.loop.run()

    [batch] = memory.named("process ")
    assert batch.name == f"process {TOPIC}"
    assert batch.kind == SpanKind.CONSUMER
    assert batch.attributes is not None
    assert batch.attributes["messaging.batch.message_count"] == 4
    assert batch.attributes["shopsys.batch.poison"] == 1
    assert batch.attributes["messaging.consumer.group.name"] == "group"
    linked = [
        (f"{link.context.trace_id:032x}", f"{link.context.span_id:016x}") for link in batch.links
    ]
    assert linked == [(trace_id, span_id) for trace_id, span_id, _ in sent]

    stores = memory.named("store ")
    assert len(stores) == 3
    for store, (trace_id, span_id, purchase_id) in zip(stores, sent, strict=True):
        assert store.name == "store shopsys.purchase.v1"
        assert store.kind == SpanKind.CONSUMER
        assert _parent(store) == (trace_id, span_id)
        assert hex_trace_id(store) == trace_id
        assert store.attributes is not None
        assert store.attributes["shopsys.purchase_id"] == purchase_id
        assert [hex_span_id_of(link) for link in store.links] == [hex_span_id(batch)]
        assert store.status.status_code == StatusCode.UNSET
    assert harness.stored_ids() == {purchase_id for _, _, purchase_id in sent}


def hex_span_id_of(link: object) -> str:
    return f"{link.context.span_id:016x}"  # type: ignore[attr-defined]


def test_an_event_without_a_trace_context_is_stored_under_its_batch() -> None:
    harness, memory = _traced(partitions=1)
    harness.consumer.append_event(event(), 0)

    harness.loop.run()

    [batch] = memory.named("process ")
    [store] = memory.named("store ")
    assert batch.links == ()
    assert _parent(store) == (hex_trace_id(batch), hex_span_id(batch))


def test_a_failed_write_ends_its_spans_as_errors_and_the_retry_makes_new_ones() -> None:
    harness, memory = _traced(partitions=1, store_failures=1)
    trace_id, span_id, traceparent = _traceparent()
    harness.consumer.append_event(event(), 0, headers=[("traceparent", traceparent)])

    harness.loop.run()

    failed, stored = memory.named("store ")
    assert failed.status.status_code == StatusCode.ERROR
    assert [item.name for item in failed.events] == ["exception"]
    assert stored.status.status_code == StatusCode.UNSET
    assert _parent(failed) == _parent(stored) == (trace_id, span_id)
    first, second = memory.named("process ")
    assert first.status.status_code == StatusCode.ERROR
    assert second.status.status_code == StatusCode.UNSET
    assert len(harness.stored_ids()) == 1
