"""The writes on the real database: purchases inserted once, cancellations applied once."""

from __future__ import annotations

from typing import Any

import pytest

from shopsys.consumer.handlers import EventApplier
from shopsys.consumer.metrics import ConsumerMetrics
from shopsys.events import purchase_cancelled
from shopsys.store import PurchaseStore, UserSummary, WriteMode
from tests.unit.consumer.fakes import event

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("mode", ["insert", "upsert"])
def test_redelivery_is_counted_as_duplicates_and_changes_nothing(
    mongo_database: Any, mode: WriteMode
) -> None:
    store = PurchaseStore(mongo_database, write_mode=mode)
    first = [event() for _ in range(5)]
    summary = store.store_purchases(first)
    assert (summary.inserted, summary.duplicates) == (5, 0)

    renamed = first[0].model_copy(update={"username": "Changed"})
    again = [renamed, *first[1:3], event(), event()]
    summary = store.store_purchases(again)
    assert (summary.inserted, summary.duplicates) == (2, 3)
    assert store.count() == 7
    stored = mongo_database["purchases"].find_one({"_id": str(first[0].purchase_id)})
    # .get: FerretDB 1.x drops null fields from a $setOnInsert document
    assert stored.get("username") is None


def test_a_duplicate_inside_one_batch_is_stored_once(mongo_database: Any) -> None:
    store = PurchaseStore(mongo_database)
    twice = event()
    summary = store.store_purchases([twice, event(), twice])
    assert (summary.inserted, summary.duplicates) == (2, 1)
    assert store.count() == 2


def test_cancellations_on_the_real_database(mongo_database: Any) -> None:
    """What the handler tests prove on mongomock, on FerretDB: a purchase and its
    cancellation in one batch end cancelled, a repeat changes nothing, a cancellation of
    another user's purchase or of none is ignored, revenue leaves the cancelled out."""
    store = PurchaseStore(mongo_database)
    applier = EventApplier(store, ConsumerMetrics())
    bought, kept, bobs = event("ann"), event("ann"), event("bob")
    first = purchase_cancelled(purchase_id=bought.purchase_id, user_id="ann")

    applier.apply([bought, kept, bobs, first])
    applier.apply([first, purchase_cancelled(purchase_id=bought.purchase_id, user_id="ann")])
    summary = store.cancel_purchases(
        [
            purchase_cancelled(purchase_id=bobs.purchase_id, user_id="ann"),
            purchase_cancelled(purchase_id=event().purchase_id, user_id="ann"),
        ]
    )

    assert (summary.cancelled, summary.already_cancelled, len(summary.unmatched)) == (0, 0, 2)
    stored = store.get_purchase(str(bought.purchase_id))
    assert stored is not None
    assert (stored.status, stored.cancelled_at) == (
        "cancelled",
        first.model_dump(mode="json")["cancelled_at"],
    )
    assert store.get_purchase(str(bobs.purchase_id)).status == "placed"  # type: ignore[union-attr]
    assert store.user_summary("ann") == UserSummary(1, 1, kept.total_cents)
