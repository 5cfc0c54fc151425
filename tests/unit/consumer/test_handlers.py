"""The event handlers against mongomock: each event type's effect, applied once."""

from __future__ import annotations

import logging
from typing import Any

import mongomock
import pytest

from shopsys.consumer.handlers import EventApplier
from shopsys.consumer.metrics import ConsumerMetrics
from shopsys.events import PurchaseCancelled, purchase_cancelled
from shopsys.store import PurchaseStore, UserSummary
from tests.unit.consumer.fakes import event


class Applied:
    def __init__(self) -> None:
        self.store = PurchaseStore(mongomock.MongoClient()["shopping"])
        self.metrics = ConsumerMetrics()
        self.applier = EventApplier(self.store, self.metrics)

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics.registry.get_sample_value(name, labels) or 0.0

    def status(self, purchase_id: Any) -> tuple[str, str | None]:
        stored = self.store.get_purchase(str(purchase_id))
        assert stored is not None
        return stored.status, stored.cancelled_at


def _cancel(user_id: str, purchase_id: Any) -> PurchaseCancelled:
    return purchase_cancelled(purchase_id=purchase_id, user_id=user_id)


def test_a_purchase_and_its_cancellation_in_one_batch_end_cancelled() -> None:
    applied = Applied()
    bought, kept = event("ann"), event("ann")
    cancel = _cancel("ann", bought.purchase_id)

    applied.applier.apply([bought, cancel, kept])

    assert applied.status(bought.purchase_id) == (
        "cancelled",
        cancel.model_dump(mode="json")["cancelled_at"],
    )
    assert applied.status(kept.purchase_id) == ("placed", None)
    assert applied.metric("shopsys_consumer_purchases_cancelled_total") == 1
    assert applied.store.user_summary("ann") == UserSummary(
        purchases=1, cancelled=1, total_cents=kept.total_cents
    )


def test_a_cancellation_applied_again_or_a_redelivered_purchase_changes_nothing() -> None:
    applied = Applied()
    bought = event("ann")
    first = _cancel("ann", bought.purchase_id)
    applied.applier.apply([bought, first])
    before = applied.status(bought.purchase_id)

    later = _cancel("ann", bought.purchase_id).model_copy(
        update={"cancelled_at": first.cancelled_at.replace(year=2030)}
    )
    applied.applier.apply([bought, first, later, later])

    assert applied.status(bought.purchase_id) == before
    assert applied.metric("shopsys_consumer_purchases_cancelled_total") == 1
    ignored = "shopsys_consumer_cancellations_ignored_total"
    assert applied.metric(ignored, reason="already cancelled") == 3
    assert applied.metric("shopsys_consumer_duplicates_ignored_total") == 1


def test_a_cancellation_of_no_purchase_of_that_user_changes_nothing_and_is_visible(
    caplog: pytest.LogCaptureFixture,
) -> None:
    applied = Applied()
    anns = event("ann")
    applied.applier.apply([anns])
    nobodys = event("ann")  # never stored

    with caplog.at_level(logging.WARNING, logger="shopsys.consumer.handlers"):
        applied.applier.apply(
            [_cancel("bob", anns.purchase_id), _cancel("ann", nobodys.purchase_id)]
        )

    assert applied.status(anns.purchase_id) == ("placed", None)
    assert applied.store.get_purchase(str(nobodys.purchase_id)) is None
    ignored = "shopsys_consumer_cancellations_ignored_total"
    assert applied.metric(ignored, reason="unmatched") == 2
    assert applied.metric("shopsys_consumer_purchases_cancelled_total") == 0
    unmatched = [r.getMessage() for r in caplog.records if "matches no purchase" in r.message]
    assert len(unmatched) == 2
    assert str(anns.purchase_id) in unmatched[0]
    assert "bob" in unmatched[0]
