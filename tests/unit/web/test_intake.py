"""POST /api/v1/purchases and /api/v1/buy: 202 only after the publisher acknowledged."""

from __future__ import annotations

import uuid

import pytest

from shopsys.events import decode_event
from tests.unit.web.conftest import WebUnderTest

pytestmark = pytest.mark.anyio

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def test_purchase_is_priced_from_the_catalog_and_published(web: WebUnderTest) -> None:
    response = await web.client.post(
        "/api/v1/purchases",
        json={"user_id": "ann", "username": "Ann", "product_id": "p-003", "quantity": 3},
        headers={"traceparent": TRACEPARENT},
    )
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "accepted"
    assert body["total_cents"] == 3 * 4499
    assert body["currency"] == "EUR"
    assert response.headers["location"] == f"/api/v1/purchases/{body['purchase_id']}"
    [(event, headers)] = web.publisher.published
    assert str(event.purchase_id) == body["purchase_id"]
    assert (event.user_id, event.username) == ("ann", "Ann")
    assert event.product_name == "Kafka in Action (book)"
    assert (event.unit_price_cents, event.quantity, event.total_cents) == (4499, 3, 13497)
    assert headers == [("traceparent", TRACEPARENT.encode())]
    assert decode_event(event.to_json()) == event


async def test_quantity_defaults_to_one_and_a_malformed_traceparent_is_dropped(
    web: WebUnderTest,
) -> None:
    response = await web.client.post(
        "/api/v1/purchases",
        json={"user_id": "ann", "product_id": "p-005"},
        headers={"traceparent": "not-a-trace"},
    )
    assert response.status_code == 202
    assert response.json()["total_cents"] == 399
    [(event, headers)] = web.publisher.published
    assert event.quantity == 1
    assert headers == []


async def test_idempotency_key_gives_the_same_purchase_id_per_user(web: WebUnderTest) -> None:
    async def buy(user_id: str, key: str) -> str:
        response = await web.client.post(
            "/api/v1/purchases",
            json={"user_id": user_id, "product_id": "p-001"},
            headers={"Idempotency-Key": key},
        )
        assert response.status_code == 202
        purchase_id: str = response.json()["purchase_id"]
        return purchase_id

    first = await buy("ann", "order-1")
    assert await buy("ann", "order-1") == first
    assert await buy("bob", "order-1") != first
    assert await buy("ann", "order-2") != first
    unkeyed = set()
    for _ in range(2):
        response = await web.client.post(
            "/api/v1/purchases", json={"user_id": "ann", "product_id": "p-001"}
        )
        unkeyed.add(response.json()["purchase_id"])
    assert len(unkeyed) == 2, "without a key every request is a new purchase"


async def test_unknown_product_is_404_and_nothing_is_published(web: WebUnderTest) -> None:
    response = await web.client.post(
        "/api/v1/purchases", json={"user_id": "ann", "product_id": "p-999"}
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_product"
    assert web.publisher.published == []


async def test_kafka_failure_is_503_with_retry_after_never_202(web: WebUnderTest) -> None:
    web.publisher.failure = "Local: Message timed out"
    response = await web.client.post(
        "/api/v1/purchases", json={"user_id": "ann", "product_id": "p-001"}
    )
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    error = response.json()["error"]
    assert error["code"] == "kafka_unavailable"
    assert "Message timed out" in error["message"]
    metrics = (await web.client.get("/metrics")).text
    assert "shopsys_web_events_failed_total 1.0" in metrics
    assert "shopsys_web_events_produced_total 0.0" in metrics


async def test_buy_compatibility_endpoint(web: WebUnderTest) -> None:
    response = await web.client.post(
        "/api/v1/buy",
        json={"username": "Ann", "userid": "ann", "price": 12.345},
        headers={"Idempotency-Key": "k1"},
    )
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "success"
    uuid.UUID(body["purchase_id"])
    assert body["data"]["userid"] == "ann"
    assert body["data"]["total_cents"] == 1234
    assert body["data"]["price"] == 12.34
    [(event, _)] = web.publisher.published
    assert (event.product_id, event.total_cents, event.username) == ("adhoc", 1234, "Ann")


async def test_management_api_down_is_503_not_500(web: WebUnderTest) -> None:
    web.reader.down = True
    response = await web.client.post(
        "/api/v1/purchases", json={"user_id": "ann", "product_id": "p-001"}
    )
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert web.publisher.published == []
