"""How each event type changes MongoDB: one handler per type, in one table.

The loop hands over a batch; its events are applied one type at a time, in the order of
``HANDLERS`` (each type's events in the order they came), so a purchase and its
cancellation in one batch end cancelled, and a batch costs one store call per event type,
however its types interleave. Every handler is idempotent: the batch is applied again
after a failure or a redelivery.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from shopsys.consumer.metrics import ConsumerMetrics
from shopsys.events import Event, PurchaseCancelled, PurchasePlaced
from shopsys.store import PurchaseStore

logger = logging.getLogger(__name__)


def store_purchases(
    store: PurchaseStore, events: Sequence[PurchasePlaced], metrics: ConsumerMetrics
) -> None:
    summary = store.store_purchases(events)
    metrics.written.inc(summary.inserted)
    metrics.duplicates.inc(summary.duplicates)


def cancel_purchases(
    store: PurchaseStore, events: Sequence[PurchaseCancelled], metrics: ConsumerMetrics
) -> None:
    summary = store.cancel_purchases(events)
    metrics.cancelled.inc(summary.cancelled)
    metrics.cancellations_ignored.labels("already cancelled").inc(summary.already_cancelled)
    metrics.cancellations_ignored.labels("unmatched").inc(len(summary.unmatched))
    for event in summary.unmatched:
        logger.warning(
            "cancellation of purchase %s by user %s matches no purchase of that user",
            event.purchase_id,
            event.user_id,
        )


Handler = Callable[[PurchaseStore, Sequence[Any], ConsumerMetrics], None]
HANDLERS: dict[type[Event], Handler] = {  # in the order a batch is applied
    PurchasePlaced: store_purchases,
    PurchaseCancelled: cancel_purchases,
}


class EventApplier:
    """What the consumer loop writes with: every event of a batch, through its handler."""

    def __init__(self, store: PurchaseStore, metrics: ConsumerMetrics) -> None:
        self._store = store
        self._metrics = metrics

    def apply(self, events: Sequence[Event]) -> None:
        for kind, handler in HANDLERS.items():
            of_kind = [event for event in events if type(event) is kind]
            if of_kind:
                handler(self._store, of_kind, self._metrics)
