"""The consumer's writes to ``purchases``: the same end state whatever the order of events.

Every write is a single-document operation on ``_id`` alone, atomic on its own, acknowledged
by a majority (``PurchaseStore`` sets the write concern), and safe to apply again:

- A purchase is inserted if its ``_id`` is new. If the ``_id`` is taken, the document there
  decides: cancellations that came first (a placeholder, no ``user_id`` yet) are merged into
  the purchase, an earlier attempt of the same order (same ``Idempotency-Key``, older
  ``created_at``) is replaced by this later one, anything else was stored before.
- A cancellation marks the user's purchase cancelled (``$min`` keeps the first
  ``cancelled_at``). With no purchase yet it is kept on a placeholder document with the
  purchase's ``_id`` (the user's earliest ``cancelled_at`` under ``cancellations``), which
  the purchase merges when it arrives.
- A write MongoDB refuses for this document alone (validation, a unique index other than
  ``_id``) is returned as a ``Refusal``, for the dead-letter topic; any other error is raised
  and the whole batch is retried.

Filters name ``_id`` only: FerretDB evaluates any other condition outside its storage engine,
an order of magnitude slower. A placeholder never matches a read: reads select on ``user_id``
or skip documents without it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Final

from pymongo import ReturnDocument
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, DuplicateKeyError, WriteError

from shopsys.events import PurchaseCancelled, PurchasePlaced
from shopsys.store.client import Document
from shopsys.store.documents import cancellation_key, mongo_time, purchase_document

DUPLICATE_KEY: Final = 11000
# What a later attempt of the same order replaces; the status and cancellations stay.
ATTEMPT_FIELDS: Final = (
    "username",
    "product_id",
    "product_name",
    "quantity",
    "unit_price_cents",
    "total_cents",
    "currency",
    "created_at",
)
# Server error codes that refuse one document for good; any other code is retried.
PERMANENT_WRITE_ERRORS: Final = {
    2: "BadValue",
    121: "DocumentValidationFailure",
    10334: "BSONObjectTooLarge",
    17280: "KeyTooLong",
    17419: "BSONObjectTooLarge",
    DUPLICATE_KEY: "duplicate key in a unique index other than _id",
}


@dataclass(frozen=True)
class Refusal:
    """MongoDB refused the event at ``index`` of the batch for good, and why."""

    index: int
    reason: str


@dataclass
class WriteSummary:
    inserted: int = 0  # new purchases, including those merged with an earlier cancellation
    duplicates: int = 0  # stored before: a redelivery, or an older attempt of the same order
    superseded: int = 0  # earlier attempts of the same order replaced by a later one
    cancelled_on_arrival: int = 0  # stored cancelled: their cancellation came first
    refused: list[Refusal] = field(default_factory=list)


class CancelOutcome(Enum):
    CANCELLED = "cancelled"
    ALREADY_CANCELLED = "already cancelled"
    KEPT = "kept until its purchase is stored"
    NOT_THE_USERS = "another user's purchase"
    REFUSED = "refused by mongodb"


@dataclass
class CancelSummary:
    outcomes: list[CancelOutcome] = field(default_factory=list)  # outcomes[i] of events[i]
    refused: list[Refusal] = field(default_factory=list)


class _Refused(Exception):
    """MongoDB refuses this one write for good; the message says why."""


def store_purchases(
    collection: Collection[Document], events: Sequence[PurchasePlaced]
) -> WriteSummary:
    """One unordered ``insert_many``; the rare ``_id`` already taken is settled one by one."""
    summary = WriteSummary()
    if not events:
        return summary
    documents = [purchase_document(event) for event in events]
    try:
        summary.inserted = len(collection.insert_many(documents, ordered=False).inserted_ids)
        return summary
    except BulkWriteError as error:
        if error.details.get("writeConcernErrors"):
            raise
        write_errors: list[dict[str, Any]] = error.details.get("writeErrors", [])
        if any(_code(item) not in PERMANENT_WRITE_ERRORS for item in write_errors):
            raise
        summary.inserted = int(error.details.get("nInserted", 0))
    taken = [int(item["index"]) for item in write_errors if _code(item) == DUPLICATE_KEY]
    # One read for all of them: a redelivered batch is mostly taken ids.
    wanted = [documents[index]["_id"] for index in taken]
    found: dict[Any, Document | None] = {}
    if taken:
        found = {doc["_id"]: doc for doc in collection.find({"_id": {"$in": wanted}})}
    for item in write_errors:
        index = int(item["index"])
        if _code(item) == DUPLICATE_KEY:
            purchase_id = documents[index]["_id"]
            found[purchase_id] = _settle_taken_id(
                collection, events[index], documents[index], found.get(purchase_id), index, summary
            )
        else:
            summary.refused.append(Refusal(index, _reason(item)))
    return summary


def _settle_taken_id(
    collection: Collection[Document],
    event: PurchasePlaced,
    document: Document,
    existing: Document | None,
    index: int,
    summary: WriteSummary,
) -> Document | None:
    """Settle a purchase whose ``_id`` is taken by ``existing``; the document as it stands
    after (a later duplicate in the same batch is settled against it)."""
    purchase_id = document["_id"]
    if existing is None:  # nothing has this _id: the duplicate was in another unique index
        summary.refused.append(Refusal(index, PERMANENT_WRITE_ERRORS[DUPLICATE_KEY]))
        return None
    if "user_id" not in existing:
        summary.inserted += 1
        summary.cancelled_on_arrival += int(_fill_placeholder(collection, event, document))
        return {**existing, **document}
    if existing["user_id"] == event.user_id and existing["created_at"] < document["created_at"]:
        # Read, then written by _id: two attempts of one order settled at the same instant on
        # different partitions could leave the earlier; sequentially, in any order, the later.
        attempt = {name: document[name] for name in ATTEMPT_FIELDS}
        collection.update_one({"_id": purchase_id}, {"$set": attempt})
        summary.superseded += 1
        return {**existing, **attempt}
    summary.duplicates += 1
    return existing


def _fill_placeholder(
    collection: Collection[Document], event: PurchasePlaced, document: Document
) -> bool:
    """Make the placeholder the purchase, cancelled if its user's cancellation is among those
    that came first; True if so. The purchase's fields and ``status`` are set in one write:
    a cancellation recorded before it is in what that write returns, one recorded after it
    sees the purchase and marks it cancelled itself. Another user's cancellations stay
    recorded and change nothing."""
    fields = {name: value for name, value in document.items() if name != "_id"}
    merged = collection.find_one_and_update(
        {"_id": document["_id"]}, {"$set": fields}, return_document=ReturnDocument.AFTER
    )
    cancelled_at = (merged or {}).get("cancellations", {}).get(cancellation_key(event.user_id))
    if cancelled_at is None:
        return False
    _mark_cancelled(collection, document["_id"], cancelled_at)
    return True


def cancel_purchases(
    collection: Collection[Document], events: Sequence[PurchaseCancelled]
) -> CancelSummary:
    summary = CancelSummary()
    for index, event in enumerate(events):
        try:
            summary.outcomes.append(_cancel(collection, event))
        except _Refused as refused:
            summary.outcomes.append(CancelOutcome.REFUSED)
            summary.refused.append(Refusal(index, str(refused)))
    return summary


def _cancel(collection: Collection[Document], event: PurchaseCancelled) -> CancelOutcome:
    """Mark the user's purchase cancelled; with no purchase yet, keep the cancellation on
    its placeholder and look again, for a purchase stored meanwhile. When it is the user's
    purchase the mark is written, never skipped on the strength of a read: a retry after a
    lost answer writes again, and its majority acknowledgement covers the write."""
    purchase_id = str(event.purchase_id)
    cancelled_at = mongo_time(event.cancelled_at)
    stored = collection.find_one({"_id": purchase_id})
    if stored is None or "user_id" not in stored:
        _keep(collection, purchase_id, event.user_id, cancelled_at)
        stored = collection.find_one({"_id": purchase_id})
        if stored is None or "user_id" not in stored:
            return CancelOutcome.KEPT
    if stored["user_id"] != event.user_id:
        return CancelOutcome.NOT_THE_USERS
    changed = _mark_cancelled(collection, purchase_id, cancelled_at)
    return CancelOutcome.CANCELLED if changed else CancelOutcome.ALREADY_CANCELLED


def _keep(
    collection: Collection[Document], purchase_id: str, user_id: str, cancelled_at: datetime
) -> None:
    """Record the user's earliest cancellation on the purchase's document, a placeholder
    made for it if there is none (the purchase merges it when it arrives)."""
    record = {"$min": {f"cancellations.{cancellation_key(user_id)}": cancelled_at}}
    try:
        collection.update_one({"_id": purchase_id}, record, upsert=True)
    except DuplicateKeyError:  # a concurrent first write of this _id won the insert, or...
        if not collection.update_one({"_id": purchase_id}, record).matched_count:
            # ...nothing has this _id: the duplicate was in another unique index
            raise _Refused(_reason({"code": DUPLICATE_KEY})) from None
    except WriteError as error:
        if error.code not in PERMANENT_WRITE_ERRORS:
            raise
        raise _Refused(_reason(error.details or {})) from error


def _mark_cancelled(
    collection: Collection[Document], purchase_id: str, cancelled_at: datetime
) -> bool:
    result = collection.update_one(
        {"_id": purchase_id},
        {"$set": {"status": "cancelled"}, "$min": {"cancelled_at": cancelled_at}},
    )
    return bool(result.modified_count)


def _code(item: Mapping[str, Any]) -> int:
    return int(item.get("code", 0))


def _reason(item: Mapping[str, Any]) -> str:
    code = _code(item)
    name = PERMANENT_WRITE_ERRORS.get(code, "write error")
    message = str(item.get("errmsg", ""))[:300]
    return f"mongodb refused the write ({code} {name}): {message}".rstrip(": ")
