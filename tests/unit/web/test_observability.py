"""Metrics, request ids and JSON logs."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from shopsys.http.observability import configure_logging
from shopsys.models import Product
from shopsys.settings import LogSettings
from tests.unit.web.conftest import WebUnderTest

pytestmark = pytest.mark.anyio


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """The production logging configuration, writing to a buffer instead of stderr."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    configure_logging(LogSettings(level="DEBUG", format="json"))
    buffer = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    try:
        yield buffer
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


async def test_request_id_is_kept_or_assigned(web: WebUnderTest) -> None:
    kept = await web.client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert kept.headers["x-request-id"] == "abc-123"
    assigned = await web.client.get("/healthz")
    assert len(assigned.headers["x-request-id"]) == 32
    too_long = await web.client.get("/healthz", headers={"X-Request-ID": "x" * 200})
    assert too_long.headers["x-request-id"] != "x" * 200


async def test_metrics_count_requests_events_and_queue(web: WebUnderTest) -> None:
    for _ in range(2):
        await web.client.post("/api/v1/purchases", json={"user_id": "a", "product_id": "p-001"})
    await web.client.post("/api/v1/purchases", json={"user_id": "a", "product_id": "nope"})
    await web.client.delete("/api/v1/products")
    response = await web.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert (
        'shopsys_web_http_requests_total{method="POST",route="/api/v1/purchases",status="202"} 2.0'
        in text
    )
    assert (
        'shopsys_web_http_requests_total{method="POST",route="/api/v1/purchases",status="404"} 1.0'
        in text
    )
    assert 'route="/api/v1/products",status="405"' in text, "405s keep their route label"
    histogram = "shopsys_web_http_request_duration_seconds"
    assert f'{histogram}_count{{method="POST",route="/api/v1/purchases"}} 3.0' in text
    assert "shopsys_web_events_produced_total 2.0" in text
    assert "shopsys_web_producer_queue_messages 7.0" in text


async def test_json_logs_carry_the_request_id(web: WebUnderTest, json_logs: io.StringIO) -> None:
    web.publisher.failure = "broker down"
    response = await web.client.post(
        "/api/v1/purchases",
        json={"user_id": "a", "product_id": "p-001"},
        headers={"X-Request-ID": "trace-me-42"},
    )
    assert response.status_code == 503
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines() if line]
    mine = [line for line in lines if line.get("request_id") == "trace-me-42"]
    assert any("not accepted" in line["message"] for line in mine)
    [access] = [line for line in mine if line["logger"] == "shopsys.access"]
    assert access["level"] == "WARNING"
    assert access["status"] == 503
    assert access["route"] == "/api/v1/purchases"
    assert access["duration_ms"] >= 0


async def test_unhandled_errors_are_a_json_500_logged_with_the_request_id(
    web: WebUnderTest, json_logs: io.StringIO
) -> None:
    async def broken() -> list[Product]:
        raise RuntimeError("kaput")

    web.reader.list_products = broken  # type: ignore[method-assign]
    response = await web.client.get("/api/v1/products", headers={"X-Request-ID": "boom-1"})
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "internal server error"}
    }
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines() if line]
    [error] = [
        line for line in lines if line["level"] == "ERROR" and line["request_id"] == "boom-1"
    ]
    assert "RuntimeError: kaput" in error["exc_info"]
