"""Pydantic models shared by both roles: value types, stored purchases, products (the HTTP
bodies are in ``web/bodies.py``)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
)

MAX_QUANTITY = 1_000
MAX_PRICE_CENTS = 100_000_000  # one million in the currency's major unit
DEFAULT_CURRENCY = "EUR"
ADHOC_PRODUCT_ID = "adhoc"


# Printable text: no C0 control characters and no DEL (stated as a pattern in the OpenAPI
# document). Lone UTF-16 surrogates, which JSON allows as escapes but no UTF-8 encoder can
# write, are refused too.
DISPLAY_NAME_PATTERN: Final = "^[^\\x00-\\x1f\\x7f]*$"


def _no_control_characters(value: str) -> str:
    if any(ord(char) < 32 or ord(char) == 127 or 0xD800 <= ord(char) <= 0xDFFF for char in value):
        raise ValueError("must not contain control characters or lone surrogates")
    return value


IDENTIFIER_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$"
IDENTIFIER_MAX_LENGTH: Final = 64
IDEMPOTENCY_KEY_PATTERN: Final = r"^[\x21-\x7e]{1,128}$"  # printable ASCII, no space
CURSOR_PATTERN: Final = r"^[A-Za-z0-9_-]*$"  # base64url without padding; empty: the first page

Identifier = Annotated[
    str,
    Field(min_length=1, max_length=IDENTIFIER_MAX_LENGTH, pattern=IDENTIFIER_PATTERN),
]
DisplayName = Annotated[
    str,
    Field(min_length=1, max_length=100, json_schema_extra={"pattern": DISPLAY_NAME_PATTERN}),
    AfterValidator(_no_control_characters),
]


def _integral_float_to_int(value: Any) -> Any:
    """JSON (and JSON Schema's ``integer``) count ``2.0`` as the integer 2; strings stay refused."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Quantity = Annotated[
    StrictInt, Field(ge=1, le=MAX_QUANTITY), BeforeValidator(_integral_float_to_int)
]
PriceCents = Annotated[StrictInt, Field(ge=1, le=MAX_PRICE_CENTS)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class Product(_Strict):
    """A catalog entry; ``price_cents`` is an integer amount of the currency's minor unit."""

    id: Identifier
    name: DisplayName
    price_cents: PriceCents
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = DEFAULT_CURRENCY


def utc_now() -> datetime:
    """Now, truncated to milliseconds: the precision both the event and MongoDB keep."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def format_timestamp(value: datetime) -> str:
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


PurchaseStatus = Literal["placed", "cancelled"]


class StoredPurchase(BaseModel):
    """A purchase as the read APIs return it."""

    purchase_id: str
    user_id: str
    username: str | None
    product_id: str
    product_name: str
    quantity: int
    unit_price_cents: int
    total_cents: int
    currency: str
    created_at: str
    status: PurchaseStatus = "placed"
    cancelled_at: str | None = None


_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c2a52-3c1e-4a8e-9a43-5d2f0f1b7c11")


def purchase_id_for(user_id: str, idempotency_key: str | None) -> uuid.UUID:
    """A fresh id, or with an ``Idempotency-Key`` the same id for the same user and key."""
    if idempotency_key is None:
        return uuid.uuid4()
    return uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{user_id}\x1f{idempotency_key}")
