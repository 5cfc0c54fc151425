"""The public contract of serve-web, route by route, against real Kafka and the real consumer."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from shopsys.events import PURCHASE_CANCELLED
from shopsys.initialize import DEFAULT_PRODUCTS
from tests.integration.consumer.checks import metric_samples
from tests.support.polling import eventually
from tests.support.reads import kafka_message, stored_purchase
from tests.support.system import Isolation, RunningSystem

pytestmark = pytest.mark.integration

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_purchase_goes_through_kafka_with_its_traceparent(
    web_client: httpx.Client,
    kafka_bootstrap: str,
    shared_isolation: Isolation,
    unique_user: str,
) -> None:
    response = web_client.post(
        "/api/v1/purchases",
        json={"user_id": unique_user, "username": "Ann", "product_id": "p-004", "quantity": 2},
        headers={"traceparent": TRACEPARENT},
    )
    assert response.status_code == 202, response.text
    accepted = response.json()
    purchase_id = accepted["purchase_id"]
    assert accepted == {
        "purchase_id": purchase_id,
        "status": "accepted",
        "total_cents": 2 * 11900,
        "currency": "EUR",
    }
    assert response.headers["location"] == f"/api/v1/purchases/{purchase_id}"

    message = kafka_message(kafka_bootstrap, shared_isolation.topic, purchase_id)
    assert message.key() == unique_user.encode()
    assert ("traceparent", TRACEPARENT.encode()) in (message.headers() or [])
    event = json.loads(message.value())
    assert event["schema"] == "shopsys.purchase.v1"
    assert (event["unit_price_cents"], event["total_cents"]) == (11900, 23800)

    purchase = eventually(
        lambda: stored_purchase(web_client, purchase_id), what="the stored purchase"
    )
    assert purchase["user_id"] == unique_user
    assert purchase["username"] == "Ann"
    assert purchase["product_name"] == "Mechanical keyboard"
    assert purchase["total_cents"] == 23800


def test_a_cancellation_goes_through_kafka_after_its_purchase_and_is_stored(
    web_client: httpx.Client,
    kafka_bootstrap: str,
    shared_isolation: Isolation,
    shared_system: RunningSystem,
    unique_user: str,
) -> None:
    bought = web_client.post(
        "/api/v1/purchases", json={"user_id": unique_user, "product_id": "p-001", "quantity": 2}
    )
    kept = web_client.post(
        "/api/v1/purchases", json={"user_id": unique_user, "product_id": "p-005"}
    )
    purchase_id = bought.json()["purchase_id"]
    cancel = f"/api/v1/users/{unique_user}/purchases/{purchase_id}/cancel"

    response = web_client.post(cancel, headers={"Idempotency-Key": "cancel-1"})

    assert response.status_code == 202, response.text
    assert response.json() == {"purchase_id": purchase_id, "status": "cancelling"}
    message = kafka_message(
        kafka_bootstrap, shared_isolation.topic, purchase_id, PURCHASE_CANCELLED
    )
    assert message.key() == unique_user.encode()  # the purchase's partition, after it

    def cancelled() -> dict[str, Any] | None:
        purchase = stored_purchase(web_client, purchase_id)
        return purchase if purchase and purchase["status"] == "cancelled" else None

    purchase = eventually(cancelled, what="the cancelled purchase")
    assert purchase["cancelled_at"] is not None
    assert web_client.post(cancel).status_code == 202  # again: harmless
    eventually(
        lambda: stored_purchase(web_client, kept.json()["purchase_id"]), what="the other purchase"
    )
    summary = httpx.get(
        f"{shared_system.management_url}/api/v1/users/{unique_user}/summary", timeout=5
    ).json()
    assert summary == {
        "user_id": unique_user,
        "purchases": 1,
        "cancelled": 1,
        "total_cents": 399,
    }

    def repeat_applied() -> bool | None:
        samples = metric_samples(
            shared_system.management_url, "shopsys_consumer_cancellations_ignored_total"
        )
        return True if samples.get('{reason="already cancelled"}', 0) > 0 else None

    eventually(repeat_applied, what="the second cancellation applied, changing nothing")
    assert stored_purchase(web_client, purchase_id) == purchase, "the first cancellation stands"


def test_idempotent_retries_store_one_purchase(web_client: httpx.Client, unique_user: str) -> None:
    body = {"user_id": unique_user, "product_id": "p-001"}
    ids = {
        web_client.post(
            "/api/v1/purchases", json=body, headers={"Idempotency-Key": "checkout-1"}
        ).json()["purchase_id"]
        for _ in range(3)
    }
    assert len(ids) == 1
    [purchase_id] = ids
    eventually(lambda: stored_purchase(web_client, purchase_id), what="the stored purchase")
    time.sleep(1.0)  # let any duplicate event land too
    page = web_client.get(f"/api/v1/users/{unique_user}/purchases").json()
    assert [item["purchase_id"] for item in page["items"]] == [purchase_id]


def test_buy_compatibility_and_history_newest_first(
    web_client: httpx.Client, unique_user: str
) -> None:
    ids = []
    for price in (1.5, 2.25, 99.99):
        response = web_client.post(
            "/api/v1/buy", json={"username": "Bob", "userid": unique_user, "price": price}
        )
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["status"] == "success"
        assert body["data"]["userid"] == unique_user
        assert body["data"]["price"] == price
        ids.append(body["purchase_id"])
        time.sleep(0.01)

    def all_buys() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = web_client.get(f"/api/v1/getAllUserBuys/{unique_user}").json()
        return items if len(items) == 3 else None

    history = eventually(all_buys, what="three purchases")
    assert [item["purchase_id"] for item in history] == ids[::-1]
    assert [item["price"] for item in history] == [99.99, 2.25, 1.5]
    assert all(item["userid"] == unique_user for item in history)

    first = web_client.get(f"/api/v1/users/{unique_user}/purchases", params={"limit": 2}).json()
    assert [item["purchase_id"] for item in first["items"]] == ids[:0:-1]
    rest = web_client.get(
        f"/api/v1/users/{unique_user}/purchases",
        params={"limit": 2, "cursor": first["next_cursor"]},
    ).json()
    assert [item["purchase_id"] for item in rest["items"]] == ids[:1]
    assert rest["next_cursor"] is None


def test_catalog_page_and_documents(web_client: httpx.Client) -> None:
    products = web_client.get("/api/v1/products").json()
    assert products == [product.model_dump() for product in DEFAULT_PRODUCTS]
    page = web_client.get("/")
    assert page.status_code == 200
    assert "shopsys" in page.text
    assert web_client.get("/static/app.js").status_code == 200
    assert web_client.get("/api/v1/openapi.json").json()["openapi"] == "3.1.0"
    assert web_client.get("/healthz").json() == {"status": "ok"}
    assert web_client.get("/readyz").json() == {"status": "ready"}


ERROR_CASES: list[tuple[str, str, dict[str, Any], int, str]] = [
    (
        "POST",
        "/api/v1/purchases",
        {"json": {"user_id": "u", "product_id": "p-999"}},
        404,
        "unknown_product",
    ),
    (
        "POST",
        "/api/v1/purchases",
        {"json": {"user_id": "u", "product_id": "p-001", "quantity": 10_000}},
        422,
        "validation_error",
    ),
    (
        "POST",
        "/api/v1/purchases",
        {"json": {"user_id": "u\u0001", "product_id": "p-001"}},
        422,
        "validation_error",
    ),
    (
        "POST",
        "/api/v1/purchases",
        {"content": b"nope", "headers": {"content-type": "text/plain"}},
        422,
        "validation_error",
    ),
    (
        "POST",
        "/api/v1/purchases",
        {"content": b"{", "headers": {"content-type": "application/json"}},
        422,
        "validation_error",
    ),
    (
        "POST",
        "/api/v1/purchases",
        {"json": {"user_id": "u", "product_id": "p-001", "username": "x" * 20_000}},
        413,
        "payload_too_large",
    ),
    (
        "POST",
        "/api/v1/buy",
        {"json": {"username": "A", "userid": "u", "price": -1}},
        422,
        "validation_error",
    ),
    (
        "POST",
        "/api/v1/buy",
        {"json": {"username": "A", "userid": "u", "price": "1"}},
        422,
        "validation_error",
    ),
    ("GET", "/api/v1/purchases/8d5e9d4c-0000-4000-8000-000000000000", {}, 404, "not_found"),
    ("GET", "/api/v1/purchases/not-a-uuid", {}, 422, "validation_error"),
    ("GET", "/api/v1/users/u/purchases?limit=0", {}, 422, "validation_error"),
    ("GET", "/api/v1/users/u/purchases?cursor=forged", {}, 422, "validation_error"),
    ("GET", "/api/v1/getAllUserBuys/" + "x" * 65, {}, 422, "validation_error"),
    ("GET", "/api/v1/purchases", {}, 405, "method_not_allowed"),
    ("DELETE", "/api/v1/products", {}, 405, "method_not_allowed"),
    ("GET", "/api/v2/anything", {}, 404, "not_found"),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    ERROR_CASES,
    ids=[f"{c[0]} {c[1][:40]} {c[3]}" for c in ERROR_CASES],
)
def test_every_error_is_json(
    web_client: httpx.Client,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    status: int,
    code: str,
) -> None:
    response = web_client.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["code"] == code


def test_metrics_count_what_happened(
    shared_system: RunningSystem, web_client: httpx.Client
) -> None:
    web_client.post("/api/v1/purchases", json={"user_id": "metrics-u", "product_id": "p-002"})
    web_client.post("/api/v1/purchases", json={"user_id": "metrics-u", "product_id": "p-404"})
    text = web_client.get("/metrics").text
    assert (
        'shopsys_web_http_requests_total{method="POST",route="/api/v1/purchases",status="202"}'
        in text
    )
    assert (
        'shopsys_web_http_requests_total{method="POST",route="/api/v1/purchases",status="404"}'
        in text
    )
    assert "shopsys_web_http_request_duration_seconds_bucket" in text
    produced = [
        line for line in text.splitlines() if line.startswith("shopsys_web_events_produced_total ")
    ]
    assert float(produced[0].split()[1]) >= 1
    assert "shopsys_web_producer_queue_messages" in text
    assert shared_system.web.running
