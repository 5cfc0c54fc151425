"""How each event type changes MongoDB: one handler per type, in one table.

The table covers exactly the ``Event`` union (a unit test holds it to that); an event
without a handler is dead-lettered when it is decoded, and ``EventApplier`` refuses one if
it ever gets that far, so no event type is ever skipped and committed past.

A batch is applied in offset order per partition, in waves: a partition's next wave starts
where its event type changes, and each wave costs one store call per event type, so a batch
of purchases with a few cancellations among them is still a few calls. Every handler is
idempotent and gives the same end state in any order: the batch is applied again after a
failure or a redelivery, and events of one purchase can arrive on different partitions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from shopsys.consumer.metrics import ConsumerMetrics
from shopsys.events import Event, PurchaseCancelled, PurchasePlaced
from shopsys.store import CancelOutcome, PurchaseStore, Refusal

if TYPE_CHECKING:
    from shopsys.consumer.batch import Partition

logger = logging.getLogger(__name__)


def store_purchases(
    store: PurchaseStore, events: Sequence[PurchasePlaced], metrics: ConsumerMetrics
) -> list[Refusal]:
    summary = store.store_purchases(events)
    metrics.written.inc(summary.inserted)
    metrics.duplicates.inc(summary.duplicates)
    metrics.superseded.inc(summary.superseded)
    metrics.cancelled.inc(summary.cancelled_on_arrival)
    return summary.refused


def cancel_purchases(
    store: PurchaseStore, events: Sequence[PurchaseCancelled], metrics: ConsumerMetrics
) -> list[Refusal]:
    summary = store.cancel_purchases(events)
    for event, outcome in zip(events, summary.outcomes, strict=True):
        if outcome is CancelOutcome.CANCELLED:
            metrics.cancelled.inc()
        elif outcome is CancelOutcome.KEPT:
            metrics.cancellations_kept.inc()
        elif outcome is not CancelOutcome.REFUSED:  # refused: dead-lettered and counted there
            metrics.cancellations_ignored.labels(outcome.value).inc()
        if outcome is CancelOutcome.NOT_THE_USERS:
            logger.warning(
                "cancellation of purchase %s by user %s ignored: the purchase is another user's",
                event.purchase_id,
                event.user_id,
            )
    return summary.refused


Handler = Callable[[PurchaseStore, Sequence[Any], ConsumerMetrics], list[Refusal]]
HANDLERS: dict[type[Event], Handler] = {
    PurchasePlaced: store_purchases,
    PurchaseCancelled: cancel_purchases,
}


class UnhandledEventError(LookupError):
    """An event type with no handler reached the applier: stop rather than skip it."""


def application_order(
    events: Sequence[Event], partitions: Sequence[Partition]
) -> list[dict[type[Event], list[int]]]:
    """Waves of event indexes by type; applied wave after wave, they keep each partition's
    offset order (``events`` come in it, as consumed)."""
    waves: list[dict[type[Event], list[int]]] = []
    position: dict[Partition, tuple[int, type[Event]]] = {}
    for index, (event, partition) in enumerate(zip(events, partitions, strict=True)):
        kind = type(event)
        wave, previous = position.get(partition, (0, kind))
        if kind is not previous:
            wave += 1
        position[partition] = (wave, kind)
        if wave == len(waves):
            waves.append({})
        waves[wave].setdefault(kind, []).append(index)
    return waves


class EventApplier:
    """What the consumer loop writes with: every event of a batch, through its handler."""

    def __init__(self, store: PurchaseStore, metrics: ConsumerMetrics) -> None:
        self._store = store
        self._metrics = metrics

    def apply(self, events: Sequence[Event], partitions: Sequence[Partition]) -> list[Refusal]:
        """Apply the events; the ones MongoDB refused for good, by index into ``events``."""
        refused: list[Refusal] = []
        for wave in application_order(events, partitions):
            for kind, indexes in wave.items():
                handler = HANDLERS.get(kind)
                if handler is None:
                    raise UnhandledEventError(f"no handler for {kind.__name__}")
                for refusal in handler(self._store, [events[i] for i in indexes], self._metrics):
                    refused.append(Refusal(indexes[refusal.index], refusal.reason))
        return refused
