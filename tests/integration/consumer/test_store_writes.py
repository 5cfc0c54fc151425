"""The purchase writes on the real database: counts of inserted and already-stored events."""

from __future__ import annotations

from typing import Any

import pytest

from shopsys.store import PurchaseStore, WriteMode
from tests.unit.consumer.fakes import event

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("mode", ["insert", "upsert"])
def test_redelivery_is_counted_as_duplicates_and_changes_nothing(
    mongo_database: Any, mode: WriteMode
) -> None:
    store = PurchaseStore(mongo_database, write_mode=mode)
    first = [event() for _ in range(5)]
    summary = store.upsert_purchases(first)
    assert (summary.inserted, summary.duplicates) == (5, 0)

    renamed = first[0].model_copy(update={"username": "Changed"})
    again = [renamed, *first[1:3], event(), event()]
    summary = store.upsert_purchases(again)
    assert (summary.inserted, summary.duplicates) == (2, 3)
    assert store.count() == 7
    stored = mongo_database["purchases"].find_one({"_id": str(first[0].purchase_id)})
    # .get: FerretDB 1.x drops null fields from a $setOnInsert document
    assert stored.get("username") is None


def test_a_duplicate_inside_one_batch_is_stored_once(mongo_database: Any) -> None:
    store = PurchaseStore(mongo_database)
    twice = event()
    summary = store.upsert_purchases([twice, event(), twice])
    assert (summary.inserted, summary.duplicates) == (2, 1)
    assert store.count() == 2
