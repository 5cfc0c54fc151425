"""The event handlers against mongomock: each event type's effect, the same in any order."""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import mongomock
import pytest
from pymongo.errors import BulkWriteError

from shopsys.consumer.handlers import (
    HANDLERS,
    EventApplier,
    UnhandledEventError,
    application_order,
)
from shopsys.consumer.metrics import ConsumerMetrics
from shopsys.events import (
    EVENT_TYPES,
    Event,
    PurchaseCancelled,
    PurchasePlaced,
    purchase_cancelled,
)
from shopsys.store import PurchaseStore, UserSummary, WriteSummary
from tests.unit.consumer.fakes import event

P0, P1, P2 = ("purchases", 0), ("purchases", 1), ("purchases", 2)


class Applied:
    def __init__(self, store: PurchaseStore | None = None) -> None:
        self.store = store or PurchaseStore(mongomock.MongoClient()["shopping"])
        self.metrics = ConsumerMetrics()
        self.applier = EventApplier(self.store, self.metrics)

    def apply(self, events: Sequence[Event], partitions: Sequence[Any] | None = None) -> Any:
        return self.applier.apply(events, partitions or [P0] * len(events))

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0

    def status(self, purchase_id: Any) -> tuple[str, str | None]:
        stored = self.store.get_purchase(str(purchase_id))
        assert stored is not None
        return stored.status, stored.cancelled_at


def _cancel(user_id: str, purchase_id: Any, later_by: int = 0) -> PurchaseCancelled:
    made = purchase_cancelled(purchase_id=purchase_id, user_id=user_id)
    return made.model_copy(update={"cancelled_at": made.cancelled_at + timedelta(seconds=later_by)})


def _json_time(cancel: PurchaseCancelled) -> str:
    return str(cancel.model_dump(mode="json")["cancelled_at"])


def _retry(purchase: PurchasePlaced, price_cents: int, later_by: int) -> PurchasePlaced:
    """A later attempt of the same order (same key, so same id), priced anew."""
    return purchase.model_copy(
        update={
            "unit_price_cents": price_cents,
            "total_cents": price_cents * purchase.quantity,
            "created_at": purchase.created_at + timedelta(seconds=later_by),
        }
    )


def test_a_purchase_and_its_cancellation_in_one_batch_end_cancelled() -> None:
    applied = Applied()
    bought, kept = event("ann"), event("ann")
    cancel = _cancel("ann", bought.purchase_id)

    applied.apply([bought, cancel, kept])

    assert applied.status(bought.purchase_id) == ("cancelled", _json_time(cancel))
    assert applied.status(kept.purchase_id) == ("placed", None)
    assert applied.metric("shopsys_consumer_purchases_cancelled_total") == 1
    assert applied.store.user_summary("ann") == UserSummary(
        purchases=1, cancelled=1, total_cents=kept.total_cents
    )


def test_any_order_and_any_number_of_redeliveries_end_in_the_same_state() -> None:
    """A purchase, its cancellation, a later repeat of the cancellation and a redelivery,
    applied one batch each in every order: cancelled, with the first cancelled_at."""
    bought = event("ann")
    first, repeat = _cancel("ann", bought.purchase_id), _cancel("ann", bought.purchase_id, 60)
    for order in itertools.permutations([bought, first, repeat, bought]):
        applied = Applied()
        for item in order:
            applied.apply([item])
        assert applied.status(bought.purchase_id) == ("cancelled", _json_time(first)), order
        assert applied.store.user_summary("ann") == UserSummary(0, 1, 0)


def test_a_cancellation_processed_before_its_purchase_is_kept_and_applied_on_arrival() -> None:
    applied = Applied()
    bought = event("ann")
    cancel = _cancel("ann", bought.purchase_id)

    applied.apply([cancel], [P1])  # e.g. on a partition added after the purchase was sent
    assert applied.store.get_purchase(str(bought.purchase_id)) is None  # invisible until then
    assert applied.store.user_summary("ann") == UserSummary(0, 0, 0)
    assert applied.metric("shopsys_consumer_cancellations_kept_total") == 1

    applied.apply([bought], [P0])
    assert applied.status(bought.purchase_id) == ("cancelled", _json_time(cancel))
    assert applied.store.user_summary("ann") == UserSummary(0, 1, 0)  # no revenue, ever
    assert applied.metric("shopsys_consumer_purchases_cancelled_total") == 1
    assert applied.metric("shopsys_consumer_events_written_total") == 1


def test_another_users_cancellation_changes_nothing_whichever_comes_first(
    caplog: pytest.LogCaptureFixture,
) -> None:
    anns = event("ann")
    bobs_cancel = _cancel("bob", anns.purchase_id)
    for order in ([bobs_cancel, anns], [anns, bobs_cancel]):
        applied = Applied()
        with caplog.at_level(logging.WARNING, logger="shopsys.consumer.handlers"):
            for item in order:
                applied.apply([item])
        assert applied.status(anns.purchase_id) == ("placed", None)
        assert applied.store.user_summary("ann") == UserSummary(1, 0, anns.total_cents)
    warned = [r.getMessage() for r in caplog.records if "another user's" in r.getMessage()]
    assert len(warned) == 1  # the one that found the purchase; the other was kept, then dropped
    assert "bob" in warned[0]
    assert str(anns.purchase_id) in warned[0]


def test_the_owners_cancellation_counts_even_beside_another_users_before_the_purchase() -> None:
    applied = Applied()
    anns = event("ann")
    theirs, bobs = _cancel("ann", anns.purchase_id, 5), _cancel("bob", anns.purchase_id)
    applied.apply([bobs, theirs], [P1, P2])
    applied.apply([anns])
    assert applied.status(anns.purchase_id) == ("cancelled", _json_time(theirs))


def test_a_later_attempt_of_the_same_order_is_what_stays_in_either_order() -> None:
    """A retry with the same Idempotency-Key after a doubtful 503 has the same id; if both
    attempts were stored, the later one (as answered 202) is the purchase."""
    first = event("ann")
    retried = _retry(first, price_cents=1500, later_by=3)
    for order in ([first, retried], [retried, first]):
        applied = Applied()
        for item in order:
            applied.apply([item])
        stored = applied.store.get_purchase(str(first.purchase_id))
        assert stored is not None
        assert (stored.total_cents, stored.created_at) == (
            retried.total_cents,
            retried.model_dump(mode="json")["created_at"],
        )
        assert applied.store.user_summary("ann") == UserSummary(1, 0, retried.total_cents)


def test_a_later_attempt_keeps_the_cancellation() -> None:
    applied = Applied()
    first = event("ann")
    cancel = _cancel("ann", first.purchase_id)
    applied.apply([first, cancel])
    applied.apply([_retry(first, price_cents=999, later_by=2)])
    assert applied.status(first.purchase_id) == ("cancelled", _json_time(cancel))
    assert applied.metric("shopsys_consumer_purchase_attempts_superseded_total") == 1


def test_the_handler_table_covers_exactly_the_event_union() -> None:
    assert set(HANDLERS) == set(EVENT_TYPES)


def test_the_applier_refuses_an_event_type_it_has_no_handler_for() -> None:
    class Unknown(PurchaseCancelled):
        pass

    stray = Unknown(purchase_id=uuid.uuid4(), user_id="ann", cancelled_at=event().created_at)
    with pytest.raises(UnhandledEventError, match="Unknown"):
        Applied().apply([event("ann"), stray])


def test_waves_keep_each_partitions_offset_order_with_few_store_calls() -> None:
    bought = [event("ann") for _ in range(4)]
    cancel = _cancel("ann", bought[0].purchase_id)
    events: list[Event] = [bought[0], bought[1], cancel, bought[2], bought[3]]
    partitions = [P0, P1, P0, P0, P1]

    waves = application_order(events, partitions)

    assert waves == [
        {PurchasePlaced: [0, 1, 4]},
        {PurchaseCancelled: [2]},
        {PurchasePlaced: [3]},
    ]
    order = [index for wave in waves for indexes in wave.values() for index in indexes]
    for partition in (P0, P1):
        mine = [i for i in order if partitions[i] == partition]
        assert mine == sorted(mine), f"{partition} applied out of offset order"


class _RefusingStore(PurchaseStore):
    """The real store whose database refuses one purchase by document validation."""

    def __init__(self, refused: PurchasePlaced) -> None:
        super().__init__(mongomock.MongoClient()["shopping"])
        self.refused = refused

    def store_purchases(self, events: Sequence[PurchasePlaced]) -> WriteSummary:
        index = events.index(self.refused)
        error = BulkWriteError(
            {
                "writeErrors": [
                    {"index": index, "code": 121, "errmsg": "Document failed validation"}
                ],
                "writeConcernErrors": [],
                "nInserted": len(events) - 1,
            }
        )
        original = self._writes.insert_many

        def insert_many(documents: list[Any], ordered: bool = True) -> Any:
            original([d for i, d in enumerate(documents) if i != index], ordered=ordered)
            raise error

        self._writes.insert_many = insert_many  # type: ignore[method-assign]
        try:
            return super().store_purchases(events)
        finally:
            del self._writes.insert_many


def test_a_write_mongodb_refuses_for_good_comes_back_as_a_refusal_with_its_index() -> None:
    refused = event("ann")
    events: list[Event] = [_cancel("bob", uuid.uuid4()), event("ann"), refused]
    applied = Applied(_RefusingStore(refused))

    refusals = applied.apply(events, [P0, P1, P1])

    assert [(r.index, "121 DocumentValidationFailure" in r.reason) for r in refusals] == [(2, True)]
    assert applied.store.get_purchase(str(events[1].purchase_id)) is not None
