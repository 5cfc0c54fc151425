"""How events and reads map to MongoDB documents, and the history's pagination cursor."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime

from shopsys.events import PurchasePlaced
from shopsys.models import StoredPurchase, format_timestamp
from shopsys.store.client import Document


class InvalidCursorError(ValueError):
    """A pagination cursor that this service did not issue."""


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


def mongo_time(value: datetime) -> datetime:
    """As MongoDB keeps a time: UTC without a zone (the client reads it back naive), in
    milliseconds, so that what is compared with a stored time is what would be stored."""
    naive = value.astimezone(UTC).replace(tzinfo=None)
    return naive.replace(microsecond=naive.microsecond // 1000 * 1000)


def cancellation_key(user_id: str) -> str:
    """The user's field under a purchase's ``cancellations``: user ids may hold dots, which
    a field name in an update cannot."""
    return "u" + user_id.encode().hex()


def aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def purchase_document(event: PurchasePlaced) -> Document:
    """The stored purchase: ``_id`` is the purchase id, which makes redelivery harmless."""
    return {
        "_id": str(event.purchase_id),
        "user_id": event.user_id,
        "username": event.username,
        "product_id": event.product_id,
        "product_name": event.product_name,
        "quantity": event.quantity,
        "unit_price_cents": event.unit_price_cents,
        "total_cents": event.total_cents,
        "currency": event.currency,
        "created_at": mongo_time(event.created_at),
        "status": "placed",
    }


def stored_purchase(document: Document) -> StoredPurchase:
    """A stored document as the read APIs show it; documents stored before cancellations
    existed have no status and are placed."""
    cancelled_at = document.get("cancelled_at")
    return StoredPurchase(
        purchase_id=document["_id"],
        user_id=document["user_id"],
        username=document.get("username"),
        product_id=document["product_id"],
        product_name=document["product_name"],
        quantity=document["quantity"],
        unit_price_cents=document["unit_price_cents"],
        total_cents=document["total_cents"],
        currency=document["currency"],
        created_at=format_timestamp(aware(document["created_at"])),
        status=document.get("status", "placed"),
        cancelled_at=None if cancelled_at is None else format_timestamp(aware(cancelled_at)),
    )
