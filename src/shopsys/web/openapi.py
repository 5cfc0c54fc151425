"""The OpenAPI 3.1 document of the storefront API, served at ``/api/v1/openapi.json``.

Request schemas are generated from the very pydantic models that validate the requests, so the
document cannot drift from the validation; response schemas come from the models below, which
the schemathesis run checks against every real response.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

from shopsys import __version__
from shopsys.models import BuyRequest, Product, PurchaseRequest, StoredPurchase

IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,128}$"
CURSOR_PATTERN = r"^[A-Za-z0-9_-]*$"  # empty: the first page
_REF = "#/components/schemas/{model}"


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


_REQUEST_MODELS: tuple[type[BaseModel], ...] = (PurchaseRequest, BuyRequest)
_RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    ErrorResponse,
    PurchaseAccepted,
    BuyAccepted,
    CancelAccepted,
    Product,
    StoredPurchase,
    PurchasePage,
    CompatPurchase,
    Status,
)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response = _json(_ref(ErrorResponse), description)
    if headers:
        response["headers"] = headers
    return response


_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "string"}}}
_LOCATION = {"Location": {"description": "Where to read it back", "schema": {"type": "string"}}}
_INVALID = _error("Invalid input; `details` names each offending field")
_UNAVAILABLE = _error("Kafka or the management API is unavailable", _RETRY_AFTER)
_TOO_LARGE = _error("The body is larger than the configured limit")


def _identifier_schema() -> dict[str, Any]:
    schema: dict[str, Any] = PurchaseRequest.model_json_schema()["properties"]["user_id"]
    return {key: value for key, value in schema.items() if key != "title"}


def _path_parameter(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


_IDEMPOTENCY_HEADER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "The same key for the same user always yields the same purchase",
    "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
}
_PURCHASE_ID = {"type": "string", "format": "uuid"}


def _cancel() -> dict[str, Any]:
    return {
        "summary": "Cancel one of the user's purchases",
        "description": (
            "Answered once Kafka acknowledged the cancellation, which is ordered after the"
            " purchase. Cancelling twice is harmless; a cancellation that matches no purchase"
            " of this user changes nothing."
        ),
        "parameters": [
            _path_parameter("user_id", _identifier_schema()),
            _path_parameter("purchase_id", _PURCHASE_ID),
            _IDEMPOTENCY_HEADER,
        ],
        "responses": {
            "202": {
                **_json(_ref(CancelAccepted), "Kafka acknowledged the cancellation"),
                "headers": _LOCATION,
            },
            "422": _INVALID,
            "503": _UNAVAILABLE,
        },
    }


def _intake(request: type[BaseModel], accepted: type[BaseModel], summary: str) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "202": {**_json(_ref(accepted), "Kafka acknowledged the event"), "headers": _LOCATION},
        "413": _TOO_LARGE,
        "422": _INVALID,
        "503": _UNAVAILABLE,
    }
    if request is PurchaseRequest:
        responses["404"] = _error("Unknown product (`unknown_product`)")
    return {
        "summary": summary,
        "parameters": [_IDEMPOTENCY_HEADER],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref(request)}},
        },
        "responses": responses,
    }


def _paths() -> dict[str, Any]:
    identifier = _identifier_schema()
    text = {"text/plain": {"schema": {"type": "string"}}}
    html = {"text/html": {"schema": {"type": "string"}}}
    return {
        "/": {
            "get": {
                "summary": "The storefront page",
                "responses": {"200": {"description": "HTML", "content": html}},
            }
        },
        "/api/v1/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")},
            }
        },
        "/api/v1/products": {
            "get": {
                "summary": "The catalog",
                "responses": {
                    "200": _json({"type": "array", "items": _ref(Product)}, "All products"),
                    "503": _UNAVAILABLE,
                },
            }
        },
        "/api/v1/purchases": {
            "post": _intake(PurchaseRequest, PurchaseAccepted, "Buy a catalog product")
        },
        "/api/v1/buy": {
            "post": _intake(BuyRequest, BuyAccepted, "Compatibility: buy a client-priced item")
        },
        "/api/v1/purchases/{purchase_id}": {
            "get": {
                "summary": "A stored purchase",
                "parameters": [_path_parameter("purchase_id", _PURCHASE_ID)],
                "responses": {
                    "200": _json(_ref(StoredPurchase), "The stored purchase"),
                    "404": _error("Not (yet) stored"),
                    "422": _INVALID,
                    "503": _UNAVAILABLE,
                },
            }
        },
        "/api/v1/users/{user_id}/purchases": {
            "get": {
                "summary": "A user's purchases, newest first, one page at a time",
                "parameters": [
                    _path_parameter("user_id", identifier),
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                    },
                    {
                        "name": "cursor",
                        "in": "query",
                        "required": False,
                        "description": "`next_cursor` of the previous page (opaque)",
                        "schema": {"type": "string", "maxLength": 512, "pattern": CURSOR_PATTERN},
                    },
                ],
                "responses": {
                    "200": _json(_ref(PurchasePage), "One page"),
                    "422": _INVALID,
                    "503": _UNAVAILABLE,
                },
            }
        },
        "/api/v1/users/{user_id}/purchases/{purchase_id}/cancel": {"post": _cancel()},
        "/api/v1/getAllUserBuys/{userid}": {
            "get": {
                "summary": "Compatibility: all of a user's purchases, newest first",
                "parameters": [_path_parameter("userid", identifier)],
                "responses": {
                    "200": _json({"type": "array", "items": _ref(CompatPurchase)}, "Purchases"),
                    "422": _INVALID,
                    "503": _UNAVAILABLE,
                },
            }
        },
        "/healthz": {
            "get": {"summary": "Liveness", "responses": {"200": _json(_ref(Status), "Alive")}}
        },
        "/readyz": {
            "get": {
                "summary": "Readiness: not shutting down (a Kafka outage is answered per purchase)",
                "responses": {
                    "200": _json(_ref(Status), "Ready"),
                    "503": _json(_ref(Status), "Not ready"),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {"200": {"description": "Prometheus text format", "content": text}},
            }
        },
    }


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The whole document (built once per process)."""
    models = [(model, "validation") for model in _REQUEST_MODELS]
    models += [(model, "serialization") for model in _RESPONSE_MODELS]
    _, definitions = models_json_schema(models, ref_template=_REF)  # type: ignore[arg-type]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "shopsys storefront API",
            "version": __version__,
            "description": 'Errors are JSON: {"error": {"code", "message", "details"?}}.',
        },
        "paths": _paths(),
        "components": {"schemas": definitions["$defs"]},
    }
