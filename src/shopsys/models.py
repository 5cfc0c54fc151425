"""Pydantic models shared by both roles: requests, the Kafka event, stored purchases, products."""

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
    field_serializer,
)

EVENT_SCHEMA: Final = "shopsys.purchase.v1"
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


Identifier = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]*$"),
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


class _StrictRequest(_Strict):
    """A request body: JSON types are not coerced (``"3"`` is not a quantity, ``true`` no price)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class PurchaseRequest(_StrictRequest):
    """Body of ``POST /api/v1/purchases``: the price comes from the catalog."""

    user_id: Identifier
    username: DisplayName | None = None
    product_id: Identifier
    quantity: Quantity = 1


class BuyRequest(_StrictRequest):
    """Body of the compatibility endpoint ``POST /api/v1/buy``: a client-priced ad-hoc item."""

    username: DisplayName
    userid: Identifier
    price: Annotated[float, Field(gt=0, le=MAX_PRICE_CENTS / 100, allow_inf_nan=False)]

    @property
    def price_cents(self) -> int:
        return max(1, round(self.price * 100))


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


class PurchaseEvent(BaseModel):
    """The value of a message on the purchases topic (schema ``shopsys.purchase.v1``)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    schema_: Literal["shopsys.purchase.v1"] = Field("shopsys.purchase.v1", alias="schema")
    purchase_id: uuid.UUID
    user_id: Identifier
    username: DisplayName | None = None
    product_id: Identifier
    product_name: DisplayName
    quantity: Quantity
    unit_price_cents: PriceCents
    total_cents: Annotated[StrictInt, Field(ge=1)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    created_at: datetime

    @field_serializer("created_at")
    def _serialize_created_at(self, value: datetime) -> str:
        return format_timestamp(value)

    @field_serializer("purchase_id")
    def _serialize_purchase_id(self, value: uuid.UUID) -> str:
        return str(value)

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> PurchaseEvent:
        event = cls.model_validate_json(raw)
        if event.total_cents != event.unit_price_cents * event.quantity:
            raise ValueError("total_cents must equal unit_price_cents * quantity")
        return event

    def to_document(self) -> dict[str, Any]:
        """The MongoDB document: ``_id`` is the purchase id, which makes redelivery harmless."""
        return {
            "_id": str(self.purchase_id),
            "user_id": self.user_id,
            "username": self.username,
            "product_id": self.product_id,
            "product_name": self.product_name,
            "quantity": self.quantity,
            "unit_price_cents": self.unit_price_cents,
            "total_cents": self.total_cents,
            "currency": self.currency,
            "created_at": self.created_at.astimezone(UTC).replace(tzinfo=None),
        }


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

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> StoredPurchase:
        created_at: datetime = document["created_at"]
        if created_at.tzinfo is None:
            created_at = created_at.replace(tzinfo=UTC)
        return cls(
            purchase_id=document["_id"],
            user_id=document["user_id"],
            username=document.get("username"),
            product_id=document["product_id"],
            product_name=document["product_name"],
            quantity=document["quantity"],
            unit_price_cents=document["unit_price_cents"],
            total_cents=document["total_cents"],
            currency=document["currency"],
            created_at=format_timestamp(created_at),
        )


_IDEMPOTENCY_NAMESPACE = uuid.UUID("6f1c2a52-3c1e-4a8e-9a43-5d2f0f1b7c11")


def purchase_id_for(user_id: str, idempotency_key: str | None) -> uuid.UUID:
    """A fresh id, or with an ``Idempotency-Key`` the same id for the same user and key."""
    if idempotency_key is None:
        return uuid.uuid4()
    return uuid.uuid5(_IDEMPOTENCY_NAMESPACE, f"{user_id}\x1f{idempotency_key}")


def new_purchase_event(
    *,
    purchase_id: uuid.UUID,
    user_id: str,
    username: str | None,
    product: Product,
    quantity: int,
) -> PurchaseEvent:
    return PurchaseEvent(
        schema=EVENT_SCHEMA,
        purchase_id=purchase_id,
        user_id=user_id,
        username=username,
        product_id=product.id,
        product_name=product.name,
        quantity=quantity,
        unit_price_cents=product.price_cents,
        total_cents=product.price_cents * quantity,
        currency=product.currency,
        created_at=utc_now(),
    )
