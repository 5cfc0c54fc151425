"""The events on the purchases topic, one model per type and version, told apart by their
``schema`` field. Every event is keyed by its user id, so one user's events are usually in
order; their effects must not depend on it (partitions are added, dead letters replayed).

A new event type is a model here and a member of ``Event``; the consumer applies it through
its handler in ``shopsys.consumer.handlers`` (a test fails until it has one) and web
publishes it from a use case.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Final, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    TypeAdapter,
    ValidationError,
    field_serializer,
)

from shopsys.models import (
    DisplayName,
    Identifier,
    PriceCents,
    Product,
    Quantity,
    format_timestamp,
    utc_now,
)

PURCHASE_PLACED: Final = "shopsys.purchase.v1"
PURCHASE_CANCELLED: Final = "shopsys.purchase_cancelled.v1"


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    purchase_id: uuid.UUID
    user_id: Identifier

    @field_serializer("purchase_id")
    def _serialize_purchase_id(self, value: uuid.UUID) -> str:
        return str(value)

    @property
    def key(self) -> bytes:
        """The partition key."""
        return self.user_id.encode()

    def to_json(self) -> bytes:
        return self.model_dump_json(by_alias=True).encode()

    def problem(self) -> str | None:
        """Why a well-formed event still can never be applied; checked on decoding."""
        return None


class PurchasePlaced(_Event):
    """A purchase answered 202: stored once, whatever happens to it later."""

    schema_: Literal["shopsys.purchase.v1"] = Field(PURCHASE_PLACED, alias="schema")
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

    def problem(self) -> str | None:
        if self.total_cents != self.unit_price_cents * self.quantity:
            return "total_cents must equal unit_price_cents * quantity"
        return None


class PurchaseCancelled(_Event):
    """The user cancelled the purchase; it may be processed before the purchase itself."""

    schema_: Literal["shopsys.purchase_cancelled.v1"] = Field(PURCHASE_CANCELLED, alias="schema")
    cancelled_at: datetime

    @field_serializer("cancelled_at")
    def _serialize_cancelled_at(self, value: datetime) -> str:
        return format_timestamp(value)


Event = Annotated[PurchasePlaced | PurchaseCancelled, Field(discriminator="schema_")]
EVENT_TYPES: Final[tuple[type[_Event], ...]] = get_args(get_args(Event)[0])
_EVENT: TypeAdapter[Event] = TypeAdapter(Event)
_SCHEMAS = frozenset((PURCHASE_PLACED, PURCHASE_CANCELLED))


class InvalidEvent(ValueError):
    """A message value that is no event this version can apply; says where and why."""


def decode_event(raw: bytes | str) -> Event:
    """The event a message value carries, or ``InvalidEvent``."""
    try:
        event = _EVENT.validate_json(raw)
    except ValidationError as error:
        raise InvalidEvent(_reason(error)) from None
    problem = event.problem()
    if problem is not None:
        raise InvalidEvent(problem)
    return event


def purchase_placed(
    *,
    purchase_id: uuid.UUID,
    user_id: str,
    username: str | None,
    product: Product,
    quantity: int,
) -> PurchasePlaced:
    return PurchasePlaced(
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


def purchase_cancelled(*, purchase_id: uuid.UUID, user_id: str) -> PurchaseCancelled:
    return PurchaseCancelled(purchase_id=purchase_id, user_id=user_id, cancelled_at=utc_now())


def _reason(error: ValidationError) -> str:
    first = error.errors(include_url=False, include_input=False)[0]
    if first["type"] == "union_tag_not_found":
        return "schema: missing (it names the event's type and version)"
    if first["type"] == "union_tag_invalid":
        known = ", ".join(sorted(_SCHEMAS))
        return f"schema: {first['ctx']['tag']!r} is no event this version reads ({known})"
    where = ".".join(str(part) for part in first["loc"] if part not in _SCHEMAS)
    return f"{where or 'value'}: {first['msg']}"
