"""The ``purchases`` collection: ``_id`` is the purchase id, which makes redelivery harmless.

Writes (the consumer's) are in ``purchase_writes``; the management API bounds the reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pymongo import ASCENDING, DESCENDING
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import OperationFailure
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from shopsys.events import PurchaseCancelled, PurchasePlaced
from shopsys.models import StoredPurchase
from shopsys.store import purchase_writes
from shopsys.store.client import Document
from shopsys.store.documents import decode_cursor, encode_cursor, stored_purchase
from shopsys.store.purchase_writes import CancelSummary, WriteSummary

PURCHASES = "purchases"
# Equality on user_id, then the history's sort order: the query reads the index in order and
# never sorts in memory.
USER_TIMELINE_KEYS = (("user_id", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING))
USER_TIMELINE_INDEX = "user_id_created_at_id_desc"
REPLACED_INDEXES = ("user_id_created_at_desc",)  # made by earlier versions, sorted in memory
HISTORY_SORT = [(key, direction) for key, direction in USER_TIMELINE_KEYS[1:]]
INDEX_NOT_FOUND = 27


@dataclass(frozen=True)
class UserSummary:
    purchases: int  # not cancelled
    cancelled: int
    total_cents: int  # of the purchases not cancelled


@dataclass(frozen=True)
class HistoryPage:
    items: list[StoredPurchase]
    next_cursor: str | None


class PurchaseStore:
    """The ``purchases`` collection; ``_id`` is the purchase id.

    Writes wait for a majority of the replica set, and the reads that decide a write read
    majority-committed data: after a failover nothing the consumer acknowledged (and
    committed the offset of) is rolled back, and nothing it based a write on was.
    """

    def __init__(self, database: Database[Document]) -> None:
        self._reads: Collection[Document] = database[PURCHASES]
        self._writes: Collection[Document] = database.get_collection(
            PURCHASES,
            write_concern=WriteConcern("majority"),
            read_concern=ReadConcern("majority"),
        )

    def ensure_indexes(self) -> None:
        self._writes.create_index(list(USER_TIMELINE_KEYS), name=USER_TIMELINE_INDEX)
        for name in REPLACED_INDEXES:
            try:
                self._writes.drop_index(name)
            except OperationFailure as error:
                if error.code != INDEX_NOT_FOUND and "not found" not in str(error):
                    raise

    def store_purchases(self, events: Sequence[PurchasePlaced]) -> WriteSummary:
        return purchase_writes.store_purchases(self._writes, events)

    def cancel_purchases(self, events: Sequence[PurchaseCancelled]) -> CancelSummary:
        return purchase_writes.cancel_purchases(self._writes, events)

    def get_purchase(self, purchase_id: str) -> StoredPurchase | None:
        document = self._reads.find_one({"_id": purchase_id})
        if document is None or "user_id" not in document:  # none, or a cancellation only
            return None
        return stored_purchase(document)

    def list_user_purchases(
        self, user_id: str, *, limit: int, cursor: str | None = None
    ) -> HistoryPage:
        """Newest first; the cursor is the (created_at, _id) of the last item of the page."""
        query: Document = {"user_id": user_id}
        if cursor is not None:
            created_at, purchase_id = decode_cursor(cursor)
            query["$or"] = [
                {"created_at": {"$lt": created_at}},
                {"created_at": created_at, "_id": {"$lt": purchase_id}},
            ]
        documents = list(self._reads.find(query).sort(HISTORY_SORT).limit(limit + 1))
        next_cursor = None
        if len(documents) > limit:
            documents = documents[:limit]
            last = documents[-1]
            next_cursor = encode_cursor(last["created_at"], last["_id"])
        return HistoryPage(
            items=[stored_purchase(document) for document in documents],
            next_cursor=next_cursor,
        )

    def user_summary(self, user_id: str) -> UserSummary:
        """A user's purchases and revenue; cancelled purchases are counted apart and bring in
        nothing. (Summed here: FerretDB's ``$group`` with two ``$sum``s is wrong.)"""
        purchases, cancelled, total = 0, 0, 0
        projection = {"total_cents": 1, "status": 1}
        for document in self._reads.find({"user_id": user_id}, projection):
            if document.get("status") == "cancelled":
                cancelled += 1
            else:
                purchases += 1
                total += int(document["total_cents"])
        return UserSummary(purchases=purchases, cancelled=cancelled, total_cents=total)
