"""The repositories against mongomock; the same behaviour is proven on FerretDB in integration."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import mongomock
import pytest

from shopsys.catalog import DEFAULT_PRODUCTS
from shopsys.events import PurchasePlaced
from shopsys.models import Product
from shopsys.store import (
    CatalogStore,
    InvalidCursorError,
    PurchaseStore,
    UserSummary,
    decode_cursor,
)

MUG = Product(id="p-001", name="Mug", price_cents=1250)


def _event(user_id: str, minutes: int) -> PurchasePlaced:
    return PurchasePlaced(
        schema="shopsys.purchase.v1",
        purchase_id=uuid.uuid4(),
        user_id=user_id,
        username=None,
        product_id=MUG.id,
        product_name=MUG.name,
        quantity=1,
        unit_price_cents=MUG.price_cents,
        total_cents=MUG.price_cents,
        currency="EUR",
        created_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes),
    )


@pytest.fixture
def database() -> Any:
    return mongomock.MongoClient()["shopping"]


def test_redelivered_events_change_nothing(database: Any) -> None:
    store = PurchaseStore(database)
    events = [_event("u1", minute) for minute in range(3)]
    first = store.store_purchases(events)
    assert (first.inserted, first.duplicates) == (3, 0)
    again = store.store_purchases(events[1:])
    assert (again.inserted, again.duplicates) == (0, 2)
    assert store.count() == 3


def test_user_history_is_newest_first_and_paginates_without_gaps(database: Any) -> None:
    store = PurchaseStore(database)
    events = [_event("u1", minute) for minute in range(7)] + [_event("u2", 3)]
    store.store_purchases(events)
    seen: list[str] = []
    cursor = None
    while True:
        page = store.list_user_purchases("u1", limit=3, cursor=cursor)
        seen.extend(item.purchase_id for item in page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [str(event.purchase_id) for event in reversed(events[:7])]


def test_summary_counts_and_totals_one_user(database: Any) -> None:
    store = PurchaseStore(database)
    store.store_purchases([_event("u1", 0), _event("u1", 1), _event("u2", 2)])
    assert store.user_summary("u1") == UserSummary(2, 0, 2 * MUG.price_cents)
    assert store.user_summary("nobody") == UserSummary(0, 0, 0)


def test_forged_cursor_is_rejected() -> None:
    with pytest.raises(InvalidCursorError):
        decode_cursor("not-a-cursor")


def test_catalog_is_seeded_once_and_administered(database: Any) -> None:
    catalog = CatalogStore(database)
    assert catalog.seed_if_empty(DEFAULT_PRODUCTS) == len(DEFAULT_PRODUCTS)
    assert catalog.seed_if_empty(DEFAULT_PRODUCTS) == 0
    assert catalog.put_product(Product(id="p-100", name="New", price_cents=1)) is True
    assert catalog.put_product(Product(id="p-100", name="Renamed", price_cents=2)) is False
    assert catalog.get_product("p-100") == Product(id="p-100", name="Renamed", price_cents=2)
    assert catalog.delete_product("p-100") is True
    assert catalog.delete_product("p-100") is False
    assert [product.id for product in catalog.list_products()] == sorted(
        product.id for product in DEFAULT_PRODUCTS
    )
