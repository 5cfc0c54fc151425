"""The repositories against mongomock; the same behaviour is proven on FerretDB in integration."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import mongomock
import pytest
from pydantic import SecretStr
from pymongo.errors import AutoReconnect

from shopsys.events import PurchaseCancelled, PurchasePlaced
from shopsys.initialize import DEFAULT_PRODUCTS
from shopsys.models import Product
from shopsys.settings import MongoSettings
from shopsys.store import (
    CatalogStore,
    InvalidCursorError,
    PurchaseStore,
    UserSummary,
    connect,
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
    assert database["purchases"].count_documents({}) == 3


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


class _RecordingCursor:
    def __init__(self, calls: list[tuple[str, Any]]) -> None:
        self.calls = calls

    def sort(self, keys: Any) -> _RecordingCursor:
        self.calls.append(("sort", keys))
        return self

    def limit(self, count: int) -> list[Any]:
        self.calls.append(("limit", count))
        return []


class _RecordingCollection:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def find(self, query: Any) -> _RecordingCursor:
        self.calls.append(("find", query))
        return _RecordingCursor(self.calls)


def test_the_history_query_reads_the_timeline_index_in_order_without_sorting() -> None:
    """Equality on the index's first key, then a sort that is exactly the index's remaining
    keys in their directions: MongoDB walks the index and never sorts in memory. (FerretDB's
    SQLite backend uses no secondary index at all, so its explain() cannot show this.)"""
    from shopsys.store.purchases import USER_TIMELINE_KEYS

    store = PurchaseStore(mongomock.MongoClient()["shopping"])
    recording = _RecordingCollection()
    store._reads = recording  # type: ignore[assignment]
    assert store.list_user_purchases("u1", limit=5).items == []

    (find, query), (sort, keys), (limit, count) = recording.calls[:3]
    assert (find, sort, limit, count) == ("find", "sort", "limit", 6)
    assert query == {"user_id": "u1"}
    assert USER_TIMELINE_KEYS[0] == ("user_id", 1)
    assert list(keys) == list(USER_TIMELINE_KEYS[1:])


class _AnswersLost:
    """A collection whose first write is applied but its answer lost (a failover, a network
    error after the primary applied it): the write happened, the caller sees an error."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.writes_after_the_loss = 0
        self.lost = False

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if name not in ("update_one", "find_one_and_update", "insert_many", "replace_one"):
            return attribute

        def write(*args: Any, **kwargs: Any) -> Any:
            result = attribute(*args, **kwargs)
            if not self.lost:
                self.lost = True
                raise AutoReconnect("connection closed before the answer")
            self.writes_after_the_loss += 1
            return result

        return write


def test_a_retried_cancellation_writes_again_rather_than_trusting_a_read() -> None:
    """The retry after a lost answer must be acknowledged by a write of its own, with a
    majority: a read of the first attempt's effect (local read concern) could see a write
    that a failover then rolls back, and the offset would be committed past it."""
    store = PurchaseStore(mongomock.MongoClient()["shopping"])
    bought = _event("ann", 0)
    store.store_purchases([bought])
    cancel = PurchaseCancelled(
        purchase_id=bought.purchase_id, user_id="ann", cancelled_at=bought.created_at
    )
    losing = _AnswersLost(store._writes)
    store._writes = losing  # type: ignore[assignment]

    with pytest.raises(AutoReconnect):
        store.cancel_purchases([cancel])
    store.cancel_purchases([cancel])  # the loop's retry of the batch

    assert losing.writes_after_the_loss >= 1
    assert store._writes.write_concern.document == {"w": "majority"}
    stored = store.get_purchase(str(bought.purchase_id))
    assert stored is not None
    assert stored.status == "cancelled"


def test_taken_ids_of_a_batch_are_read_once_and_settled_in_batch_order(database: Any) -> None:
    """A redelivered batch is mostly taken ids: one read for all of them (on FerretDB each
    read scans), and a later attempt in the batch still wins over an earlier one after it."""
    store = PurchaseStore(database)
    stored = _event("u1", 0)
    store.store_purchases([stored])
    later = stored.model_copy(
        update={"total_cents": 3, "created_at": stored.created_at + timedelta(minutes=2)}
    )
    earlier = stored.model_copy(
        update={"total_cents": 2, "created_at": stored.created_at + timedelta(minutes=1)}
    )
    reads = 0
    collection = store._writes  # type: ignore[attr-defined]
    real_find = collection.find

    def counting_find(*args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        return real_find(*args, **kwargs)

    collection.find = counting_find
    summary = store.store_purchases([later, earlier, stored, _event("u2", 0)])
    assert (summary.inserted, summary.superseded, summary.duplicates) == (1, 1, 2)
    assert reads == 1
    assert database["purchases"].find_one({"_id": str(stored.purchase_id)})["total_cents"] == 3


def test_the_socket_timeout_grows_with_the_batches_the_client_writes() -> None:
    settings = MongoSettings(uri=SecretStr("mongodb://127.0.0.1:1"), timeout_ms=5_000)
    plain, batching = connect(settings), connect(settings, batch_size=500)
    try:
        assert plain.options.pool_options.socket_timeout == 10.0
        assert batching.options.pool_options.socket_timeout == 60.0
        assert batching.options.server_selection_timeout == 5.0  # a down server: still fast
    finally:
        plain.close()
        batching.close()
