"""The storefront traced: the request's server span, the produce span, and the message header
that carries the produce span's context on to the consumer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from shopsys.tracing.messaging import TracedPublisher
from shopsys.web.app import create_app
from shopsys.web.services import WebBehaviour, WebMetrics, WebServices
from tests.support.spans import MemoryTracing, hex_span_id, hex_trace_id
from tests.unit.web.conftest import FakePublisher, FakeReader

pytestmark = pytest.mark.anyio

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
PURCHASE = {"user_id": "ann", "product_id": "p-001"}


@dataclass
class TracedWeb:
    client: httpx.AsyncClient
    publisher: FakePublisher
    memory: MemoryTracing


@pytest.fixture
async def traced() -> AsyncIterator[TracedWeb]:
    memory = MemoryTracing("shopsys-web")
    publisher = FakePublisher()

    def make_services(metrics: WebMetrics) -> WebServices:
        return WebServices(
            publisher=TracedPublisher(publisher, memory.tracing.tracer, topic="purchases"),
            reader=FakeReader(publisher),
            settings=WebBehaviour(),
            metrics=metrics,
        )

    app = create_app(make_services, tracing=memory.tracing)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://web.test") as client,
    ):
        yield TracedWeb(client, publisher, memory)


async def test_a_purchase_is_a_server_span_and_a_send_span_whose_context_the_event_carries(
    traced: TracedWeb,
) -> None:
    response = await traced.client.post(
        "/api/v1/purchases",
        json=PURCHASE,
        headers={"traceparent": TRACEPARENT, "x-request-id": "req-1"},
    )
    assert response.status_code == 202
    [send] = traced.memory.named("send ")
    [server] = traced.memory.named("POST ")

    assert server.kind == SpanKind.SERVER
    assert server.name == "POST /api/v1/purchases"
    assert hex_trace_id(server) == TRACE_ID  # the client's trace goes on
    assert server.parent is not None
    assert server.parent.is_remote
    assert f"{server.parent.span_id:016x}" == "00f067aa0ba902b7"
    assert server.attributes is not None
    assert server.attributes["http.route"] == "/api/v1/purchases"
    assert server.attributes["http.request.method"] == "POST"
    assert server.attributes["http.response.status_code"] == 202
    assert server.attributes["shopsys.request_id"] == "req-1"

    assert send.kind == SpanKind.PRODUCER
    assert send.name == "send purchases"
    assert send.parent is not None
    assert send.parent.span_id == server.context.span_id  # type: ignore[union-attr]
    assert send.attributes is not None
    assert send.attributes["messaging.destination.name"] == "purchases"
    assert send.attributes["messaging.kafka.message.key"] == "ann"
    assert send.attributes["shopsys.purchase_id"] == response.json()["purchase_id"]

    [(_event, headers)] = traced.publisher.published
    expected = f"00-{TRACE_ID}-{hex_span_id(send)}-01"
    assert headers == [("traceparent", expected.encode())]


async def test_without_a_client_traceparent_the_request_starts_the_trace(
    traced: TracedWeb,
) -> None:
    response = await traced.client.post("/api/v1/purchases", json=PURCHASE)
    assert response.status_code == 202
    [server] = traced.memory.named("POST ")
    [send] = traced.memory.named("send ")
    assert server.parent is None
    assert hex_trace_id(send) == hex_trace_id(server)
    [(_event, headers)] = traced.publisher.published
    assert [name for name, _ in headers] == ["traceparent"]
    assert headers[0][1].startswith(f"00-{hex_trace_id(send)}-{hex_span_id(send)}-".encode())


async def test_an_unacknowledged_event_marks_both_spans_as_errors(traced: TracedWeb) -> None:
    traced.publisher.failure = "broker down"
    response = await traced.client.post("/api/v1/purchases", json=PURCHASE)
    assert response.status_code == 503
    [server] = traced.memory.named("POST ")
    [send] = traced.memory.named("send ")
    assert send.status.status_code == StatusCode.ERROR
    assert [event.name for event in send.events] == ["exception"]
    assert server.status.status_code == StatusCode.ERROR
    assert server.attributes is not None
    assert server.attributes["http.response.status_code"] == 503


async def test_a_client_error_is_not_a_server_error(traced: TracedWeb) -> None:
    response = await traced.client.post("/api/v1/purchases", json={"user_id": "ann"})
    assert response.status_code == 422
    [server] = traced.memory.spans()
    assert server.status.status_code == StatusCode.UNSET
    assert traced.memory.named("send ") == []


async def test_reads_are_named_by_their_route_and_probes_make_no_spans(
    traced: TracedWeb,
) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/static/app.js"):
        assert (await traced.client.get(path)).status_code == 200
    assert traced.memory.spans() == []
    assert (await traced.client.get("/api/v1/users/ann/purchases")).status_code == 200
    assert (await traced.client.get("/no/such/page")).status_code == 404
    names = [span.name for span in traced.memory.spans()]
    assert names == ["GET /api/v1/users/{user_id}/purchases", "GET"]
