"""MongoDB: purchases (written by the consumer, read by the API) and the catalog.

``client`` connects, ``documents`` maps events and reads to documents, ``purchases`` and
``catalog`` are the repositories.
"""

from __future__ import annotations

from shopsys.store.catalog import PRODUCTS, CatalogStore
from shopsys.store.client import Document, connect
from shopsys.store.documents import (
    InvalidCursorError,
    decode_cursor,
    encode_cursor,
    purchase_document,
    stored_purchase,
)
from shopsys.store.purchases import (
    PURCHASES,
    USER_TIMELINE_INDEX,
    CancelSummary,
    PurchasePage,
    PurchaseStore,
    UserSummary,
    WriteMode,
    WriteSummary,
)

__all__ = [
    "PRODUCTS",
    "PURCHASES",
    "USER_TIMELINE_INDEX",
    "CancelSummary",
    "CatalogStore",
    "Document",
    "InvalidCursorError",
    "PurchasePage",
    "PurchaseStore",
    "UserSummary",
    "WriteMode",
    "WriteSummary",
    "connect",
    "decode_cursor",
    "encode_cursor",
    "purchase_document",
    "stored_purchase",
]
