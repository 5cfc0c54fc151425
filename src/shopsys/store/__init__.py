"""MongoDB: purchases (written by the consumer, read by the API) and the catalog.

``client`` connects, ``documents`` maps events and reads to documents, ``purchases`` and
``catalog`` are the repositories; ``purchase_writes`` is how the consumer's writes end the
same whatever the order of events.
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
from shopsys.store.purchase_writes import CancelOutcome, CancelSummary, Refusal, WriteSummary
from shopsys.store.purchases import (
    PURCHASES,
    USER_TIMELINE_INDEX,
    HistoryPage,
    PurchaseStore,
    UserSummary,
)

__all__ = [
    "PRODUCTS",
    "PURCHASES",
    "USER_TIMELINE_INDEX",
    "CancelOutcome",
    "CancelSummary",
    "CatalogStore",
    "Document",
    "HistoryPage",
    "InvalidCursorError",
    "PurchaseStore",
    "Refusal",
    "UserSummary",
    "WriteSummary",
    "connect",
    "decode_cursor",
    "encode_cursor",
    "purchase_document",
    "stored_purchase",
]
