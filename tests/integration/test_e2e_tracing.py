"""Tracing end to end: both roles export to a real OpenTelemetry Collector (built from its Go
modules), which writes what it receives to a file; one purchase is one trace from the
client's request to the event's write in MongoDB."""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx
import pytest

from shopsys.tracing import CONSUMER_SERVICE_NAME, WEB_SERVICE_NAME
from tests.support.collector import OtelCollector, Span
from tests.support.polling import eventually
from tests.support.reads import kafka_message, stored_purchase
from tests.support.system import Isolation

pytestmark = pytest.mark.integration

FAST_EXPORT = {"OTEL_BSP_SCHEDULE_DELAY": "100"}  # ms between the batch processor's exports


def _buy(web_url: str, headers: dict[str, str]) -> str:
    with httpx.Client(base_url=web_url, timeout=30) as client:
        response = client.post(
            "/api/v1/purchases",
            json={"user_id": "tracer", "product_id": "p-002", "quantity": 1},
            headers=headers,
        )
    assert response.status_code == 202, response.text
    purchase_id: str = response.json()["purchase_id"]
    return purchase_id


def _trace_of(collector: OtelCollector, trace_id: str) -> list[Span] | None:
    """The trace's spans once the consumer's write span is among them."""
    spans = [span for span in collector.spans() if span.trace_id == trace_id]
    if any(span.name.startswith("store ") for span in spans):
        return spans
    return None


def _one(spans: list[Span], **wanted: Any) -> Span:
    found = [s for s in spans if all(getattr(s, key) == value for key, value in wanted.items())]
    assert len(found) == 1, f"expected one span with {wanted}, got {found} among {spans}"
    return found[0]


def test_one_purchase_is_one_trace_from_the_request_to_the_write(
    system_factory: Any,
    otel_collector: OtelCollector,
    isolation: Isolation,
    kafka_bootstrap: str,
) -> None:
    client_trace, client_span = secrets.token_hex(16), secrets.token_hex(8)
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": otel_collector.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=test",
        **FAST_EXPORT,
    }
    with system_factory(env=env) as system:
        purchase_id = _buy(system.web_url, {"traceparent": f"00-{client_trace}-{client_span}-01"})
        spans = eventually(
            lambda: _trace_of(otel_collector, client_trace),
            timeout=30,
            what=lambda: f"the trace in {otel_collector.spans()}",
        )
        message = kafka_message(kafka_bootstrap, isolation.topic, purchase_id)

    # The client's trace goes on in the storefront: its request span is the server span.
    request = _one(spans, kind="server", service=WEB_SERVICE_NAME)
    assert request.parent_span_id == client_span
    assert request.name == "POST /api/v1/purchases"
    assert request.attributes["http.route"] == "/api/v1/purchases"
    assert request.attributes["http.response.status_code"] == 202

    # The produce: a child of the request, and the context the message carries.
    send = _one(spans, kind="producer", service=WEB_SERVICE_NAME)
    assert send.parent_span_id == request.span_id
    assert send.name == f"send {isolation.topic}"
    assert send.attributes["messaging.destination.name"] == isolation.topic
    assert send.attributes["shopsys.purchase_id"] == purchase_id
    headers = dict(message.headers() or [])
    assert headers["traceparent"] == f"00-{client_trace}-{send.span_id}-01".encode()

    # The consumer's write of the event: a child of the produce, across Kafka, linked to the
    # span of the batch it was written in (a batch serves many traces: it is linked to them).
    store = _one(
        spans, kind="consumer", service=CONSUMER_SERVICE_NAME, name="store shopsys.purchase.v1"
    )
    assert store.parent_span_id == send.span_id
    assert store.attributes["shopsys.purchase_id"] == purchase_id
    assert store.status == "unset"
    [(batch_trace, batch_span)] = store.links
    batch = _one(otel_collector.spans(), span_id=batch_span)
    assert (batch.trace_id, batch.kind, batch.service) == (
        batch_trace,
        "consumer",
        CONSUMER_SERVICE_NAME,
    )
    assert batch.name == f"process {isolation.topic}"
    assert (client_trace, send.span_id) in batch.links

    assert {span.resource.get("deployment.environment.name") for span in spans} == {"test"}
    assert {span.service for span in spans} == {WEB_SERVICE_NAME, CONSUMER_SERVICE_NAME}


def test_tracing_off_sends_nothing_and_passes_the_traceparent_through(
    system_factory: Any,
    otel_collector: OtelCollector,
    isolation: Isolation,
    kafka_bootstrap: str,
) -> None:
    traceparent = f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-01"
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": otel_collector.endpoint,
        "OTEL_TRACES_EXPORTER": "none",  # the endpoint alone would turn it on
        **FAST_EXPORT,
    }
    with system_factory(env=env) as system:
        purchase_id = _buy(system.web_url, {"traceparent": traceparent})
        with httpx.Client(base_url=system.management_url, timeout=10) as management:
            eventually(lambda: stored_purchase(management, purchase_id), timeout=30)
        message = kafka_message(kafka_bootstrap, isolation.topic, purchase_id)
        time.sleep(0.5)  # five export intervals, had anything been exported
    # Both roles have stopped (a tracer provider would have been flushed by now).
    assert otel_collector.spans() == []
    assert ("traceparent", traceparent.encode()) in (message.headers() or [])
