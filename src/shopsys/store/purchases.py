"""The ``purchases`` collection: ``_id`` is the purchase id, which makes redelivery harmless."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pymongo import ASCENDING, DESCENDING, UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from shopsys.events import PurchaseCancelled, PurchasePlaced
from shopsys.models import StoredPurchase
from shopsys.store.client import Document
from shopsys.store.documents import (
    decode_cursor,
    encode_cursor,
    naive_utc,
    purchase_document,
    stored_purchase,
)

PURCHASES = "purchases"
USER_TIMELINE_INDEX = "user_id_created_at_desc"
DUPLICATE_KEY = 11000
WriteMode = Literal["insert", "upsert"]


@dataclass(frozen=True)
class WriteSummary:
    inserted: int
    duplicates: int


@dataclass(frozen=True)
class CancelSummary:
    cancelled: int
    already_cancelled: int
    unmatched: list[PurchaseCancelled]  # no such purchase, or another user's


@dataclass(frozen=True)
class UserSummary:
    purchases: int  # not cancelled
    cancelled: int
    total_cents: int  # of the purchases not cancelled


@dataclass(frozen=True)
class PurchasePage:
    items: list[StoredPurchase]
    next_cursor: str | None


class PurchaseStore:
    """The ``purchases`` collection; ``_id`` is the purchase id."""

    def __init__(self, database: Database[Document], *, write_mode: WriteMode = "insert") -> None:
        self._collection: Collection[Document] = database[PURCHASES]
        self._write_mode = write_mode

    def ensure_indexes(self) -> None:
        self._collection.create_index(
            [("user_id", ASCENDING), ("created_at", DESCENDING)], name=USER_TIMELINE_INDEX
        )

    def store_purchases(self, events: Sequence[PurchasePlaced]) -> WriteSummary:
        """Store each event unless its ``_id`` is already there: one unordered bulk write.

        The effect is that of ``$setOnInsert`` upserts (a redelivered event changes nothing);
        ``write_mode="insert"`` (the default) gets it from an unordered ``insert_many`` whose
        duplicate-key errors mean "already stored", which is several times faster on MongoDB
        and the only usable way on FerretDB, whose upserts scan the whole collection.
        """
        if not events:
            return WriteSummary(inserted=0, duplicates=0)
        documents = [purchase_document(event) for event in events]
        if self._write_mode == "upsert":
            operations = [
                UpdateOne({"_id": document["_id"]}, {"$setOnInsert": document}, upsert=True)
                for document in documents
            ]
            upserted = self._collection.bulk_write(operations, ordered=False)
            return WriteSummary(inserted=upserted.upserted_count, duplicates=upserted.matched_count)
        try:
            inserted = self._collection.insert_many(documents, ordered=False)
        except BulkWriteError as error:
            return _summary_of_duplicates(error, len(documents))
        return WriteSummary(inserted=len(inserted.inserted_ids), duplicates=0)

    def get_purchase(self, purchase_id: str) -> StoredPurchase | None:
        document = self._collection.find_one({"_id": purchase_id})
        return None if document is None else stored_purchase(document)

    def list_user_purchases(
        self, user_id: str, *, limit: int, cursor: str | None = None
    ) -> PurchasePage:
        """Newest first; the cursor is the (created_at, _id) of the last item of the page."""
        query: Document = {"user_id": user_id}
        if cursor is not None:
            created_at, purchase_id = decode_cursor(cursor)
            query["$or"] = [
                {"created_at": {"$lt": created_at}},
                {"created_at": created_at, "_id": {"$lt": purchase_id}},
            ]
        documents = list(
            self._collection.find(query)
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit + 1)
        )
        next_cursor = None
        if len(documents) > limit:
            documents = documents[:limit]
            last = documents[-1]
            next_cursor = encode_cursor(last["created_at"], last["_id"])
        return PurchasePage(
            items=[stored_purchase(document) for document in documents],
            next_cursor=next_cursor,
        )

    def cancel_purchases(self, events: Sequence[PurchaseCancelled]) -> CancelSummary:
        """Mark each purchase cancelled once: a cancellation applied again, or for a purchase
        already cancelled, changes nothing (the first ``cancelled_at`` stays).

        Filters on ``_id`` alone: FerretDB (SQLite) answers those from its primary key but
        scans the whole collection for any other filter, which slowed the consumer to tens of
        events per second. One partition (so one user's events) has one owner at a time, so
        reading before writing does not race."""
        cancelled, already, unmatched = 0, 0, []
        for event in events:
            purchase_id = str(event.purchase_id)
            stored = self._collection.find_one({"_id": purchase_id}, {"user_id": 1, "status": 1})
            if stored is None or stored["user_id"] != event.user_id:
                unmatched.append(event)
            elif stored.get("status") == "cancelled":
                already += 1
            else:
                self._collection.update_one(
                    {"_id": purchase_id},
                    {
                        "$set": {
                            "status": "cancelled",
                            "cancelled_at": naive_utc(event.cancelled_at),
                        }
                    },
                )
                cancelled += 1
        return CancelSummary(cancelled=cancelled, already_cancelled=already, unmatched=unmatched)

    def user_summary(self, user_id: str) -> UserSummary:
        """A user's purchases and revenue; cancelled purchases are counted apart and bring in
        nothing. (Summed here: FerretDB's ``$group`` with two ``$sum``s is wrong.)"""
        purchases, cancelled, total = 0, 0, 0
        projection = {"total_cents": 1, "status": 1}
        for document in self._collection.find({"user_id": user_id}, projection):
            if document.get("status") == "cancelled":
                cancelled += 1
            else:
                purchases += 1
                total += int(document["total_cents"])
        return UserSummary(purchases=purchases, cancelled=cancelled, total_cents=total)

    def count(self) -> int:
        return self._collection.count_documents({})


def _summary_of_duplicates(error: BulkWriteError, attempted: int) -> WriteSummary:
    """An unordered insert that hit existing ``_id``s: those were stored before. Any other
    write error is re-raised (it is retried, never skipped)."""
    write_errors = error.details.get("writeErrors", [])
    if any(item.get("code") != DUPLICATE_KEY for item in write_errors) or error.details.get(
        "writeConcernErrors"
    ):
        raise error
    duplicates = len(write_errors)
    inserted = int(error.details.get("nInserted", attempted - duplicates))
    return WriteSummary(inserted=inserted, duplicates=duplicates)
