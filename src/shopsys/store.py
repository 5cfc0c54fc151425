"""MongoDB repositories: purchases (written by the consumer, read by the API) and the catalog."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pymongo import ASCENDING, DESCENDING, MongoClient, UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from shopsys.models import Product, PurchaseEvent, StoredPurchase, format_timestamp
from shopsys.settings import MongoSettings

Document = dict[str, Any]

PURCHASES = "purchases"
PRODUCTS = "products"
USER_TIMELINE_INDEX = "user_id_created_at_desc"
DUPLICATE_KEY = 11000
WriteMode = Literal["insert", "upsert"]


def connect(settings: MongoSettings) -> MongoClient[Document]:
    """A client that fails fast: a down database must surface as an error, not a hang."""
    return MongoClient(
        settings.uri.get_secret_value(),
        serverSelectionTimeoutMS=settings.timeout_ms,
        connectTimeoutMS=settings.timeout_ms,
        socketTimeoutMS=max(settings.timeout_ms * 2, 10_000),
        appname="shopsys",
        tz_aware=False,
    )


class InvalidCursorError(ValueError):
    """A pagination cursor that this service did not issue."""


@dataclass(frozen=True)
class WriteSummary:
    inserted: int
    duplicates: int


@dataclass(frozen=True)
class PurchasePage:
    items: list[StoredPurchase]
    next_cursor: str | None


def encode_cursor(created_at: datetime, purchase_id: str) -> str:
    raw = json.dumps([format_timestamp(created_at.replace(tzinfo=UTC)), purchase_id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created_at, purchase_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        parsed = datetime.strptime(created_at, "%Y-%m-%dT%H:%M:%S.%fZ")
    except (ValueError, TypeError, binascii.Error) as error:
        raise InvalidCursorError("cursor is not valid") from error
    if not isinstance(purchase_id, str):
        raise InvalidCursorError("cursor is not valid")
    return parsed, purchase_id


class PurchaseStore:
    """The ``purchases`` collection; ``_id`` is the purchase id."""

    def __init__(self, database: Database[Document], *, write_mode: WriteMode = "insert") -> None:
        self._collection: Collection[Document] = database[PURCHASES]
        self._write_mode = write_mode

    def ensure_indexes(self) -> None:
        self._collection.create_index(
            [("user_id", ASCENDING), ("created_at", DESCENDING)], name=USER_TIMELINE_INDEX
        )

    def upsert_purchases(self, events: Sequence[PurchaseEvent]) -> WriteSummary:
        """Store each event unless its ``_id`` is already there: one unordered bulk write.

        The effect is that of ``$setOnInsert`` upserts (a redelivered event changes nothing);
        ``write_mode="insert"`` (the default) gets it from an unordered ``insert_many`` whose
        duplicate-key errors mean "already stored", which is several times faster on MongoDB
        and the only usable way on FerretDB, whose upserts scan the whole collection.
        """
        if not events:
            return WriteSummary(inserted=0, duplicates=0)
        documents = [event.to_document() for event in events]
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
        return None if document is None else StoredPurchase.from_document(document)

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
            items=[StoredPurchase.from_document(document) for document in documents],
            next_cursor=next_cursor,
        )

    def user_summary(self, user_id: str) -> tuple[int, int]:
        """(number of purchases, total_cents) of one user."""
        count, total = 0, 0
        for document in self._collection.find({"user_id": user_id}, {"total_cents": 1}):
            count += 1
            total += int(document["total_cents"])
        return count, total

    def count(self) -> int:
        return self._collection.count_documents({})


class CatalogStore:
    """The ``products`` collection; ``_id`` is the product id."""

    def __init__(self, database: Database[Document]) -> None:
        self._collection: Collection[Document] = database[PRODUCTS]

    def list_products(self) -> list[Product]:
        return [_product(document) for document in self._collection.find().sort("_id", ASCENDING)]

    def get_product(self, product_id: str) -> Product | None:
        document = self._collection.find_one({"_id": product_id})
        return None if document is None else _product(document)

    def put_product(self, product: Product) -> bool:
        """Create or replace; True when it was created."""
        document = {"_id": product.id, **product.model_dump(exclude={"id"})}
        result = self._collection.replace_one({"_id": product.id}, document, upsert=True)
        return result.upserted_id is not None

    def delete_product(self, product_id: str) -> bool:
        return self._collection.delete_one({"_id": product_id}).deleted_count == 1

    def seed_if_empty(self, products: Iterable[Product]) -> int:
        """Seed the default catalog into an empty collection; a no-op otherwise."""
        if self._collection.estimated_document_count() > 0:
            return 0
        operations = [
            UpdateOne(
                {"_id": product.id},
                {"$setOnInsert": product.model_dump(exclude={"id"})},
                upsert=True,
            )
            for product in products
        ]
        if not operations:
            return 0
        return self._collection.bulk_write(operations, ordered=False).upserted_count


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


def _product(document: Document) -> Product:
    return Product(
        id=document["_id"],
        name=document["name"],
        price_cents=document["price_cents"],
        currency=document.get("currency", "EUR"),
    )
