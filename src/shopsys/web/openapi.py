"""The OpenAPI 3.1 document of the storefront API, served at ``/api/v1/openapi.json``.

Request schemas are generated from the very pydantic models that validate the requests, so the
document cannot drift from the validation; response schemas come from the models below, which
the schemathesis run checks against every real response.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shopsys import __version__
from shopsys.http.input import MAX_CURSOR_LENGTH
from shopsys.models import CURSOR_PATTERN, IDEMPOTENCY_KEY_PATTERN, Product, StoredPurchase
from shopsys.web.bodies import (
    BuyAccepted,
    BuyRequest,
    CancelAccepted,
    CompatPurchase,
    ErrorResponse,
    PurchaseAccepted,
    PurchasePage,
    PurchaseRequest,
    Status,
)

_REF = "#/components/schemas/{model}"


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
_DOUBTFUL = _error(
    "Not accepted in time: Kafka did not acknowledge the event (or the catalog could not be"
    " read). Doubtful: the event may still be stored. Retry after `Retry-After` seconds with"
    " the same `Idempotency-Key`: that ends in exactly one purchase, as the last accepted"
    " attempt describes it.",
    _RETRY_AFTER,
)
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
    "description": (
        "One key per order attempt, reused on every retry: the same key for the same user"
        " always yields the same purchase id, so a retried request never buys twice"
    ),
    "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
}
_PURCHASE_ID = {"type": "string", "format": "uuid"}


def cancel() -> dict[str, Any]:
    return {
        "summary": "Cancel one of the user's purchases",
        "description": (
            "Answered once Kafka acknowledged the cancellation. Whichever of the purchase and"
            " its cancellation is processed first, the purchase ends cancelled. Cancelling"
            " twice is harmless, so a doubtful 503 may simply be retried; a cancellation of"
            " another user's purchase changes nothing."
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
            "503": _DOUBTFUL,
        },
    }


def _intake(
    request: type[BaseModel], accepted: type[BaseModel], summary: str, description: str
) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "202": {**_json(_ref(accepted), "Kafka acknowledged the event"), "headers": _LOCATION},
        "413": _TOO_LARGE,
        "422": _INVALID,
        "503": _DOUBTFUL,
    }
    if request is PurchaseRequest:
        responses["404"] = _error("Unknown product (`unknown_product`)")
    return {
        "summary": summary,
        "description": description,
        "parameters": [_IDEMPOTENCY_HEADER],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _ref(request)}},
        },
        "responses": responses,
    }


def storefront_page() -> dict[str, Any]:
    html = {"text/html": {"schema": {"type": "string"}}}
    return {
        "summary": "The storefront page",
        "responses": {"200": {"description": "HTML", "content": html}},
    }


def this_document() -> dict[str, Any]:
    return {
        "summary": "This document",
        "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1")},
    }


def catalog() -> dict[str, Any]:
    return {
        "summary": "The catalog",
        "responses": {
            "200": _json({"type": "array", "items": _ref(Product)}, "All products"),
            "503": _UNAVAILABLE,
        },
    }


def purchase() -> dict[str, Any]:
    return _intake(
        PurchaseRequest,
        PurchaseAccepted,
        "Buy a catalog product",
        "Priced from the catalog when the request arrives. A retry with the same"
        " `Idempotency-Key` is priced anew; the stored purchase is the last accepted attempt.",
    )


def compat_buy() -> dict[str, Any]:
    return _intake(
        BuyRequest,
        BuyAccepted,
        "Compatibility: buy a client-priced item",
        "Not safe to retry without an `Idempotency-Key`: each request without one is a new"
        " purchase, so a retry after a doubtful 503 may buy twice.",
    )


def stored_purchase() -> dict[str, Any]:
    return {
        "summary": "A stored purchase",
        "parameters": [_path_parameter("purchase_id", _PURCHASE_ID)],
        "responses": {
            "200": _json(_ref(StoredPurchase), "The stored purchase"),
            "404": _error("Not (yet) stored"),
            "422": _INVALID,
            "503": _UNAVAILABLE,
        },
    }


def user_purchases() -> dict[str, Any]:
    return {
        "summary": "A user's purchases, newest first, one page at a time",
        "parameters": [
            _path_parameter("user_id", _identifier_schema()),
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
                "schema": {
                    "type": "string",
                    "maxLength": MAX_CURSOR_LENGTH,
                    "pattern": CURSOR_PATTERN,
                },
            },
        ],
        "responses": {
            "200": _json(_ref(PurchasePage), "One page"),
            "422": _INVALID,
            "503": _UNAVAILABLE,
        },
    }


def compat_user_purchases() -> dict[str, Any]:
    return {
        "summary": "Compatibility: all of a user's purchases, newest first",
        "parameters": [_path_parameter("userid", _identifier_schema())],
        "responses": {
            "200": _json({"type": "array", "items": _ref(CompatPurchase)}, "Purchases"),
            "422": _INVALID,
            "503": _UNAVAILABLE,
        },
    }


def liveness() -> dict[str, Any]:
    return {
        "summary": "Liveness: the Kafka producer can still publish",
        "responses": {
            "200": _json(_ref(Status), "Alive"),
            "503": _json(_ref(Status), "The producer failed for good: restart the process"),
        },
    }


def readiness() -> dict[str, Any]:
    return {
        "summary": (
            "Readiness: not shutting down, producer usable (a Kafka outage is answered per"
            " purchase)"
        ),
        "responses": {
            "200": _json(_ref(Status), "Ready"),
            "503": _json(_ref(Status), "Not ready"),
        },
    }


def metrics() -> dict[str, Any]:
    text = {"text/plain": {"schema": {"type": "string"}}}
    return {
        "summary": "Prometheus metrics",
        "responses": {"200": {"description": "Prometheus text format", "content": text}},
    }


@dataclass(frozen=True)
class Operation:
    """One route of the storefront and its OpenAPI operation: declared once, served and
    documented from the same object."""

    path: str
    method: str
    endpoint: Callable[[Request], Awaitable[Response]]
    spec: dict[str, Any]

    def route(self) -> Route:
        return Route(self.path, self.endpoint, methods=[self.method])


def build_document(operations: Iterable[Operation]) -> dict[str, Any]:
    """The whole document: the paths of ``operations``, the schemas of the models."""
    paths: dict[str, dict[str, Any]] = {}
    for operation in operations:
        paths.setdefault(operation.path, {})[operation.method.lower()] = operation.spec
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
        "paths": paths,
        "components": {"schemas": definitions["$defs"]},
    }
