"""The storefront API's JSON bodies: the requests it validates, the answers it gives."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shopsys.models import (
    MAX_PRICE_CENTS,
    DisplayName,
    Identifier,
    Quantity,
    StoredPurchase,
)


class _StrictRequest(BaseModel):
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


class ErrorDetail(BaseModel):
    field: str
    message: str
    type: str


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[ErrorDetail] | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class PurchaseAccepted(BaseModel):
    purchase_id: str = Field(json_schema_extra={"format": "uuid"})
    status: Literal["accepted"]
    total_cents: int = Field(ge=1)
    currency: str


class CancelAccepted(BaseModel):
    purchase_id: str = Field(json_schema_extra={"format": "uuid"})
    status: Literal["cancelling"]


class BuyData(BaseModel):
    username: str
    userid: str
    price: float
    total_cents: int
    currency: str
    created_at: str


class BuyAccepted(BaseModel):
    status: Literal["success"]
    purchase_id: str = Field(json_schema_extra={"format": "uuid"})
    data: BuyData


class PurchasePage(BaseModel):
    items: list[StoredPurchase]
    next_cursor: str | None


class CompatPurchase(StoredPurchase):
    userid: str
    price: float


class Status(BaseModel):
    status: str
    problems: list[str] | None = None
