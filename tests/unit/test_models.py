from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shopsys.events import InvalidEvent, PurchasePlaced, decode_event, purchase_placed
from shopsys.models import Product, purchase_id_for
from shopsys.store import purchase_document, stored_purchase
from shopsys.web.bodies import BuyRequest, PurchaseRequest

MUG = Product(id="p-001", name="Mug", price_cents=1250)


def test_event_round_trips_through_json_with_the_contract_field_names() -> None:
    event = purchase_placed(
        purchase_id=uuid.uuid4(), user_id="u1", username="Ann", product=MUG, quantity=2
    )
    raw = event.to_json()
    assert b'"schema":"shopsys.purchase.v1"' in raw
    assert decode_event(raw) == event
    assert event.total_cents == 2500


def test_event_timestamp_is_utc_with_milliseconds() -> None:
    event = purchase_placed(
        purchase_id=uuid.uuid4(), user_id="u1", username=None, product=MUG, quantity=1
    )
    created_at = event.model_dump(mode="json")["created_at"]
    assert created_at.endswith("Z")
    assert len(created_at) == len("2026-01-01T12:00:00.000Z")


def test_event_with_wrong_schema_or_inconsistent_total_is_rejected() -> None:
    event = purchase_placed(
        purchase_id=uuid.uuid4(), user_id="u1", username=None, product=MUG, quantity=2
    )
    payload = event.model_dump(mode="json", by_alias=True)
    with pytest.raises(InvalidEvent, match=r"^schema: missing"):
        decode_event(b"{}")
    wrong_schema = {**payload, "schema": "shopsys.purchase.v0"}
    with pytest.raises(InvalidEvent, match=r"^schema: 'shopsys\.purchase\.v0' is no event"):
        decode_event(json.dumps(wrong_schema))
    with pytest.raises(InvalidEvent, match=r"^quantity: Input should be greater than"):
        decode_event(json.dumps({**payload, "quantity": 0}))
    inconsistent = {**payload, "total_cents": 1}
    with pytest.raises(InvalidEvent, match="total_cents"):
        decode_event(PurchasePlaced.model_validate(inconsistent).to_json())


def test_document_uses_the_purchase_id_as_mongodb_id() -> None:
    purchase_id = uuid.uuid4()
    event = purchase_placed(
        purchase_id=purchase_id, user_id="u1", username="Ann", product=MUG, quantity=1
    )
    document = purchase_document(event)
    assert document["_id"] == str(purchase_id)
    assert document["created_at"].tzinfo is None
    stored = stored_purchase(document)
    assert stored.purchase_id == str(purchase_id)
    assert stored.created_at == event.model_dump(mode="json")["created_at"]


def test_idempotency_key_gives_the_same_purchase_id_per_user() -> None:
    assert purchase_id_for("u1", "k1") == purchase_id_for("u1", "k1")
    assert purchase_id_for("u1", "k1") != purchase_id_for("u2", "k1")
    assert purchase_id_for("u1", None) != purchase_id_for("u1", None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"product_id": "p-001"}, "user_id"),
        ({"user_id": "u1", "product_id": "p-001", "quantity": 0}, "quantity"),
        ({"user_id": "u1", "product_id": "p-001", "quantity": 10**9}, "quantity"),
        ({"user_id": "u1", "product_id": "p-001", "quantity": "2"}, "quantity"),
        ({"user_id": "u" * 65, "product_id": "p-001"}, "user_id"),
        ({"user_id": "u\n1", "product_id": "p-001"}, "user_id"),
        ({"user_id": "u1", "product_id": "p-001", "username": "A\x00"}, "username"),
        ({"user_id": "u1", "product_id": "p-001", "extra": 1}, "extra"),
    ],
)
def test_purchase_request_rejects_bad_input_naming_the_field(
    body: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        PurchaseRequest.model_validate(body)
    assert [error["loc"][0] for error in caught.value.errors()] == [field]


@pytest.mark.parametrize("price", [0, -1, float("nan"), float("inf"), 10**9])
def test_buy_request_rejects_bad_prices(price: float) -> None:
    with pytest.raises(ValidationError):
        BuyRequest.model_validate({"username": "Ann", "userid": "u1", "price": price})


def test_buy_request_converts_the_price_to_cents() -> None:
    assert BuyRequest(username="Ann", userid="u1", price=19.99).price_cents == 1999
    assert BuyRequest(username="Ann", userid="u1", price=0.001).price_cents == 1


def test_stored_purchase_accepts_naive_utc_datetimes_from_mongodb() -> None:
    document = {
        "_id": "id-1",
        "user_id": "u1",
        "product_id": "p",
        "product_name": "P",
        "quantity": 1,
        "unit_price_cents": 5,
        "total_cents": 5,
        "currency": "EUR",
        "created_at": datetime(2026, 1, 1, 12, 0, 0, 123000),
    }
    assert stored_purchase(document).created_at == "2026-01-01T12:00:00.123Z"
    aware = {**document, "created_at": datetime(2026, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)}
    assert stored_purchase(aware).created_at == "2026-01-01T12:00:00.123Z"
