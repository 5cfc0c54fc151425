"""The writes on the real database: purchases inserted once, cancellations applied once,
the same end state in any order, and what the database refuses for good handed back."""

from __future__ import annotations

import random
import threading
from datetime import timedelta
from typing import Any

import pytest

from shopsys.consumer.handlers import EventApplier
from shopsys.consumer.metrics import ConsumerMetrics
from shopsys.events import Event, purchase_cancelled
from shopsys.store import CancelOutcome, PurchaseStore, UserSummary
from tests.unit.consumer.fakes import event

pytestmark = pytest.mark.integration

ONE_PARTITION = ("purchases", 0)


def _apply(applier: EventApplier, events: list[Event]) -> Any:
    return applier.apply(events, [ONE_PARTITION] * len(events))


def test_redelivery_is_counted_as_duplicates_and_changes_nothing(mongo_database: Any) -> None:
    store = PurchaseStore(mongo_database)
    first = [event() for _ in range(5)]
    summary = store.store_purchases(first)
    assert (summary.inserted, summary.duplicates) == (5, 0)

    renamed = first[0].model_copy(update={"username": "Changed"})  # same attempt, same time
    again = [renamed, *first[1:3], event(), event()]
    summary = store.store_purchases(again)
    assert (summary.inserted, summary.duplicates) == (2, 3)
    assert mongo_database["purchases"].count_documents({}) == 7
    stored = mongo_database["purchases"].find_one({"_id": str(first[0].purchase_id)})
    assert stored.get("username") is None


def test_a_duplicate_inside_one_batch_is_stored_once(mongo_database: Any) -> None:
    store = PurchaseStore(mongo_database)
    twice = event()
    summary = store.store_purchases([twice, event(), twice])
    assert (summary.inserted, summary.duplicates) == (2, 1)
    assert mongo_database["purchases"].count_documents({}) == 2


@pytest.mark.parametrize("later_first", [False, True], ids=["earlier-first", "later-first"])
def test_two_attempts_of_one_order_in_one_batch_keep_the_later(
    mongo_database: Any, later_first: bool
) -> None:
    """A doubtful attempt and its retry can meet in one batch when the consumer is behind."""
    store = PurchaseStore(mongo_database)
    earlier = event("ann")
    later = earlier.model_copy(
        update={"total_cents": 777, "created_at": earlier.created_at + timedelta(seconds=2)}
    )
    summary = store.store_purchases([later, earlier] if later_first else [earlier, later])
    assert summary.inserted == 1
    stored = store.get_purchase(str(earlier.purchase_id))
    assert stored is not None
    assert stored.total_cents == 777
    assert mongo_database["purchases"].count_documents({}) == 1


def test_cancellations_on_the_real_database(mongo_database: Any) -> None:
    """What the handler tests prove on mongomock, on FerretDB: a purchase and its
    cancellation in one batch end cancelled, a repeat changes nothing, a cancellation of
    another user's purchase is ignored, one of a purchase not stored yet is kept, revenue
    leaves the cancelled out."""
    store = PurchaseStore(mongo_database)
    applier = EventApplier(store, ConsumerMetrics())
    bought, kept, bobs = event("ann"), event("ann"), event("bob")
    first = purchase_cancelled(purchase_id=bought.purchase_id, user_id="ann")

    _apply(applier, [bought, kept, bobs, first])
    _apply(applier, [first, purchase_cancelled(purchase_id=bought.purchase_id, user_id="ann")])
    summary = store.cancel_purchases(
        [
            purchase_cancelled(purchase_id=bobs.purchase_id, user_id="ann"),
            purchase_cancelled(purchase_id=event().purchase_id, user_id="ann"),
        ]
    )

    assert summary.outcomes == [CancelOutcome.NOT_THE_USERS, CancelOutcome.KEPT]
    stored = store.get_purchase(str(bought.purchase_id))
    assert stored is not None
    assert (stored.status, stored.cancelled_at) == (
        "cancelled",
        first.model_dump(mode="json")["cancelled_at"],
    )
    assert store.get_purchase(str(bobs.purchase_id)).status == "placed"  # type: ignore[union-attr]
    assert store.user_summary("ann") == UserSummary(1, 1, kept.total_cents)


def test_a_cancellation_first_and_a_later_attempt_on_the_real_database(
    mongo_database: Any,
) -> None:
    store = PurchaseStore(mongo_database)
    applier = EventApplier(store, ConsumerMetrics())
    bought = event("ann")
    cancel = purchase_cancelled(purchase_id=bought.purchase_id, user_id="ann")
    retried = bought.model_copy(
        update={
            "unit_price_cents": 999,
            "total_cents": 999,
            "created_at": bought.created_at + timedelta(seconds=2),
        }
    )

    _apply(applier, [cancel])
    assert store.get_purchase(str(bought.purchase_id)) is None
    _apply(applier, [retried])
    _apply(applier, [bought])  # the earlier attempt, delivered last

    stored = store.get_purchase(str(bought.purchase_id))
    assert stored is not None
    assert (stored.status, stored.total_cents) == ("cancelled", 999)
    assert store.user_summary("ann") == UserSummary(0, 1, 0)
    assert mongo_database["purchases"].count_documents({}) == 1


def test_purchases_and_their_cancellations_racing_on_two_threads_all_end_cancelled(
    mongo_database: Any,
) -> None:
    """Two consumers (threads) apply the purchases and the cancellations of the same orders
    at the same time, as after partitions were added: the conditional writes decide."""
    store = PurchaseStore(mongo_database)
    purchases = [event(f"user-{i % 7}") for i in range(150)]
    cancels = [purchase_cancelled(purchase_id=p.purchase_id, user_id=p.user_id) for p in purchases]
    random.Random(7).shuffle(cancels)  # noqa: S311 - an order, not a secret
    errors: list[BaseException] = []

    def apply_each(events: list[Any]) -> None:
        applier = EventApplier(store, ConsumerMetrics())
        try:
            for item in events:
                _apply(applier, [item])
        except BaseException as error:
            errors.append(error)

    threads = [
        threading.Thread(target=apply_each, args=(purchases,)),
        threading.Thread(target=apply_each, args=(cancels,)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)

    assert not errors
    collection = mongo_database["purchases"]
    assert collection.count_documents({}) == len(purchases)
    assert collection.count_documents({"status": "cancelled"}) == len(purchases)
    assert collection.count_documents({"user_id": {"$exists": False}}) == 0


def test_a_write_the_database_refuses_for_good_is_handed_back_not_retried(
    mongo_database: Any,
) -> None:
    """A unique index an operator added (here on username) makes the second purchase of the
    same name fail with a duplicate key that is not the purchase's own: it is refused (the
    loop dead-letters it), never counted as already stored, and the rest is written."""
    mongo_database["purchases"].create_index("username", unique=True, name="username_unique")
    store = PurchaseStore(mongo_database)
    first = event("ann").model_copy(update={"username": "Ann"})
    clash = event("bob").model_copy(update={"username": "Ann"})
    fine = event("eve").model_copy(update={"username": "Eve"})

    summary = store.store_purchases([first, clash, fine])

    assert (summary.inserted, summary.duplicates) == (2, 0)
    assert [refusal.index for refusal in summary.refused] == [1]
    assert "duplicate key" in summary.refused[0].reason
    assert store.get_purchase(str(clash.purchase_id)) is None
