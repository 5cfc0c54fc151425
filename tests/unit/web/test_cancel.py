"""POST /api/v1/users/{user_id}/purchases/{purchase_id}/cancel: 202 only after Kafka."""

from __future__ import annotations

import uuid

import pytest

from shopsys.events import PurchaseCancelled, decode_event
from tests.unit.web.conftest import WebUnderTest

pytestmark = pytest.mark.anyio


async def _buy(web: WebUnderTest, user_id: str = "ann") -> str:
    response = await web.client.post(
        "/api/v1/purchases", json={"user_id": user_id, "product_id": "p-001"}
    )
    assert response.status_code == 202
    purchase_id: str = response.json()["purchase_id"]
    return purchase_id


def _cancel_path(user_id: str, purchase_id: str) -> str:
    return f"/api/v1/users/{user_id}/purchases/{purchase_id}/cancel"


async def test_a_cancellation_is_published_keyed_by_the_user_and_read_back(
    web: WebUnderTest,
) -> None:
    purchase_id = await _buy(web)

    response = await web.client.post(_cancel_path("ann", purchase_id))

    assert response.status_code == 202
    assert response.json() == {"purchase_id": purchase_id, "status": "cancelling"}
    assert response.headers["location"] == f"/api/v1/purchases/{purchase_id}"
    event, _headers = web.publisher.published[-1]
    assert isinstance(event, PurchaseCancelled)
    assert (str(event.purchase_id), event.key) == (purchase_id, b"ann")
    assert decode_event(event.to_json()) == event
    stored = (await web.client.get(f"/api/v1/purchases/{purchase_id}")).json()
    assert stored["status"] == "cancelled"
    assert stored["cancelled_at"] == event.model_dump(mode="json")["cancelled_at"]


async def test_a_cancellation_kafka_did_not_take_is_503_with_retry_after(
    web: WebUnderTest,
) -> None:
    purchase_id = await _buy(web)
    web.publisher.failure = "broker down"

    response = await web.client.post(_cancel_path("ann", purchase_id))

    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.json()["error"]["code"] == "kafka_unavailable"
    stored = (await web.client.get(f"/api/v1/purchases/{purchase_id}")).json()
    assert stored["status"] == "placed"


@pytest.mark.parametrize(
    ("user_id", "purchase_id", "headers", "field"),
    [
        ("ann", "not-a-uuid", {}, "purchase_id"),
        ("-ann", str(uuid.uuid4()), {}, "user_id"),
        ("ann", str(uuid.uuid4()), {"Idempotency-Key": "a b"}, "Idempotency-Key"),
    ],
)
async def test_bad_cancellation_input_is_422_and_nothing_is_published(
    web: WebUnderTest, user_id: str, purchase_id: str, headers: dict[str, str], field: str
) -> None:
    response = await web.client.post(_cancel_path(user_id, purchase_id), headers=headers)

    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == field
    assert web.publisher.published == []


async def test_cancelling_someone_elses_purchase_changes_nothing(web: WebUnderTest) -> None:
    purchase_id = await _buy(web, "ann")

    response = await web.client.post(_cancel_path("bob", purchase_id))

    assert response.status_code == 202  # decided where purchases are stored, see handlers
    stored = (await web.client.get(f"/api/v1/purchases/{purchase_id}")).json()
    assert stored["status"] == "placed"
