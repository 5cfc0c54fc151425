"""The ``products`` collection."""

from __future__ import annotations

from collections.abc import Iterable

from pymongo import ASCENDING, UpdateOne
from pymongo.collection import Collection
from pymongo.database import Database

from shopsys.models import Product
from shopsys.store.client import Document

PRODUCTS = "products"


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


def _product(document: Document) -> Product:
    return Product(
        id=document["_id"],
        name=document["name"],
        price_cents=document["price_cents"],
        currency=document.get("currency", "EUR"),
    )
