"""The public storefront API: where a purchase enters the system, and where it is read back.

Past 300 lines because each endpoint sits beside its one declaration (path, models, answers),
which is what keeps a route declared once.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from shopsys.events import Event
from shopsys.http.errors import (
    ServiceUnavailable,
    invalid,
    purchase_not_found,
    unknown_product,
)
from shopsys.http.input import (
    MAX_CURSOR_LENGTH,
    cursor_query,
    identifier_param,
    int_query,
    read_json_model,
)
from shopsys.http.responses import JSONResponse
from shopsys.kafka.producer import Headers
from shopsys.models import CURSOR_PATTERN, IDEMPOTENCY_KEY_PATTERN, Product, StoredPurchase
from shopsys.web import use_cases
from shopsys.web.bodies import (
    BuyAccepted,
    BuyRequest,
    CancelAccepted,
    CompatPurchase,
    PurchaseAccepted,
    PurchasePage,
    PurchaseRequest,
)
from shopsys.web.openapi import (
    DOUBTFUL,
    IDEMPOTENCY_HEADER,
    INVALID,
    LOCATION,
    PURCHASE_ID,
    TOO_LARGE,
    UNAVAILABLE,
    Answer,
    Operation,
    error,
    identifier_schema,
    path_parameter,
    query_parameter,
)
from shopsys.web.services import WebServices

_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
COMPAT_HISTORY_LIMIT = 1_000


def _services(request: Request) -> WebServices:
    services: WebServices = request.app.state.services
    return services


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise invalid("Idempotency-Key", "must be 1-128 printable ASCII characters")
    return key


def _headers(request: Request) -> Headers:
    traceparent = request.headers.get("traceparent")
    if traceparent is not None and _TRACEPARENT.fullmatch(traceparent):
        return [("traceparent", traceparent.encode())]
    return []


async def _publish(request: Request, event: Event) -> None:
    services = _services(request)
    try:
        await use_cases.publish(services, event, _headers(request))
    except use_cases.NotAccepted as error:
        raise ServiceUnavailable(
            "not accepted in time, and it may still be stored: retry with the same"
            f" Idempotency-Key ({error})",
            code="kafka_unavailable",
        ) from error


def _accepted(purchase_id: uuid.UUID, body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(
        body, status_code=202, headers={"Location": f"/api/v1/purchases/{purchase_id}"}
    )


async def create_purchase(request: Request) -> Response:
    services = _services(request)
    body = await read_json_model(
        request, PurchaseRequest, max_bytes=services.settings.max_body_bytes
    )
    key = _idempotency_key(request)
    try:
        event = await use_cases.place_purchase(services, body, key)
    except use_cases.UnknownProduct as error:
        raise unknown_product(error.product_id) from None
    await _publish(request, event)
    return _accepted(
        event.purchase_id,
        {
            "purchase_id": str(event.purchase_id),
            "status": "accepted",
            "total_cents": event.total_cents,
            "currency": event.currency,
        },
    )


async def buy(request: Request) -> Response:
    """Compatibility with the original service: a client-priced ad-hoc item."""
    services = _services(request)
    body = await read_json_model(request, BuyRequest, max_bytes=services.settings.max_body_bytes)
    event = use_cases.buy_adhoc_item(body, _idempotency_key(request))
    await _publish(request, event)
    data = {
        "username": body.username,
        "userid": body.userid,
        "price": event.total_cents / 100,
        "total_cents": event.total_cents,
        "currency": event.currency,
        "created_at": event.model_dump(mode="json")["created_at"],
    }
    return _accepted(
        event.purchase_id,
        {"status": "success", "purchase_id": str(event.purchase_id), "data": data},
    )


async def cancel_purchase(request: Request) -> Response:
    user_id = identifier_param(request, "user_id")
    purchase_id = _purchase_id_param(request)
    _idempotency_key(request)  # validated like everywhere; a cancellation is idempotent anyway
    event = use_cases.cancel_purchase(user_id, purchase_id)
    await _publish(request, event)
    return _accepted(purchase_id, {"purchase_id": str(purchase_id), "status": "cancelling"})


def _purchase_id_param(request: Request) -> uuid.UUID:
    try:
        return uuid.UUID(str(request.path_params["purchase_id"]))
    except ValueError:
        raise invalid("purchase_id", "must be a UUID") from None


async def list_products(request: Request) -> Response:
    products = await _services(request).reader.list_products()
    return JSONResponse([product.model_dump() for product in products])


async def user_purchases(request: Request) -> Response:
    user_id = identifier_param(request, "user_id")
    limit = int_query(request, "limit", default=20, low=1, high=100)
    page = await _services(request).reader.list_user_purchases(
        user_id, limit=limit, cursor=cursor_query(request)
    )
    return JSONResponse(page)


async def get_all_user_buys(request: Request) -> Response:
    """Compatibility: the user's purchases, newest first, as a plain JSON list."""
    user_id = identifier_param(request, "userid")
    page = await _services(request).reader.list_user_purchases(
        user_id, limit=COMPAT_HISTORY_LIMIT, cursor=None
    )
    items: list[dict[str, Any]] = page["items"]
    return JSONResponse(
        [{**item, "userid": item["user_id"], "price": item["total_cents"] / 100} for item in items]
    )


async def get_purchase(request: Request) -> Response:
    purchase_id = str(_purchase_id_param(request))
    purchase = await _services(request).reader.get_purchase(purchase_id)
    if purchase is None:
        raise purchase_not_found()
    return JSONResponse(purchase)


def _intake_answers(accepted: type[BaseModel]) -> dict[int, Answer]:
    return {
        202: Answer("Kafka acknowledged the event", accepted, headers=LOCATION),
        413: TOO_LARGE,
        422: INVALID,
        503: DOUBTFUL,
    }


def api_operations() -> list[Operation]:
    user_id = path_parameter("user_id", identifier_schema())
    purchase_id = path_parameter("purchase_id", PURCHASE_ID)
    return [
        Operation(
            "/api/v1/purchases",
            "POST",
            create_purchase,
            "Buy a catalog product",
            {
                **_intake_answers(PurchaseAccepted),
                404: error("Unknown product (`unknown_product`)"),
            },
            description=(
                "Priced from the catalog when the request arrives. A retry with the same"
                " `Idempotency-Key` is priced anew; the stored purchase is the last accepted"
                " attempt."
            ),
            body=PurchaseRequest,
            parameters=[IDEMPOTENCY_HEADER],
        ),
        Operation(
            "/api/v1/buy",
            "POST",
            buy,
            "Compatibility: buy a client-priced item",
            _intake_answers(BuyAccepted),
            description=(
                "Not safe to retry without an `Idempotency-Key`: each request without one is a"
                " new purchase, so a retry after a doubtful 503 may buy twice."
            ),
            body=BuyRequest,
            parameters=[IDEMPOTENCY_HEADER],
        ),
        Operation(
            "/api/v1/products",
            "GET",
            list_products,
            "The catalog",
            {200: Answer("All products", Product, many=True), 503: UNAVAILABLE},
        ),
        Operation(
            "/api/v1/users/{user_id}/purchases",
            "GET",
            user_purchases,
            "A user's purchases, newest first, one page at a time",
            {200: Answer("One page", PurchasePage), 422: INVALID, 503: UNAVAILABLE},
            parameters=[
                user_id,
                query_parameter(
                    "limit",
                    {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                ),
                query_parameter(
                    "cursor",
                    {"type": "string", "maxLength": MAX_CURSOR_LENGTH, "pattern": CURSOR_PATTERN},
                    "`next_cursor` of the previous page (opaque)",
                ),
            ],
        ),
        Operation(
            "/api/v1/users/{user_id}/purchases/{purchase_id}/cancel",
            "POST",
            cancel_purchase,
            "Cancel one of the user's purchases",
            {
                202: Answer(
                    "Kafka acknowledged the cancellation", CancelAccepted, headers=LOCATION
                ),
                422: INVALID,
                503: DOUBTFUL,
            },
            description=(
                "Answered once Kafka acknowledged the cancellation. Whichever of the purchase"
                " and its cancellation is processed first, the purchase ends cancelled."
                " Cancelling twice is harmless, so a doubtful 503 may simply be retried; a"
                " cancellation of another user's purchase changes nothing."
            ),
            parameters=[user_id, purchase_id, IDEMPOTENCY_HEADER],
        ),
        Operation(
            "/api/v1/getAllUserBuys/{userid}",
            "GET",
            get_all_user_buys,
            "Compatibility: all of a user's purchases, newest first",
            {200: Answer("Purchases", CompatPurchase, many=True), 422: INVALID, 503: UNAVAILABLE},
            parameters=[path_parameter("userid", identifier_schema())],
        ),
        Operation(
            "/api/v1/purchases/{purchase_id}",
            "GET",
            get_purchase,
            "A stored purchase",
            {
                200: Answer("The stored purchase", StoredPurchase),
                404: error("Not (yet) stored"),
                422: INVALID,
                503: UNAVAILABLE,
            },
            parameters=[purchase_id],
        ),
    ]
