"""The public storefront API: where a purchase enters the system."""

from __future__ import annotations

import re
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from shopsys.events import Event
from shopsys.http.errors import (
    ServiceUnavailable,
    invalid,
    purchase_not_found,
    unknown_product,
)
from shopsys.http.input import cursor_query, identifier_param, int_query, read_json_model
from shopsys.http.observability import metrics_response
from shopsys.http.responses import JSONResponse
from shopsys.kafka.producer import Headers
from shopsys.models import IDEMPOTENCY_KEY_PATTERN
from shopsys.web import openapi as spec
from shopsys.web import use_cases
from shopsys.web.bodies import BuyRequest, PurchaseRequest
from shopsys.web.openapi import Operation
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


async def healthz(request: Request) -> Response:
    """Liveness: a producer that failed for good needs a new process."""
    problem = _services(request).publisher.problem()
    if problem is not None:
        return JSONResponse({"status": "failed", "problems": [problem]}, status_code=503)
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    # A Kafka outage is deliberately not a condition: during one the pod stays in its
    # Service, reads keep working and each purchase gets 503 with Retry-After, instead of
    # every web pod leaving the Service and clients getting connection refused. A producer
    # that can never publish again is.
    services = _services(request)
    if services.shutting_down:
        return JSONResponse({"status": "shutting down"}, status_code=503)
    problem = services.publisher.problem()
    if problem is not None:
        return JSONResponse({"status": "not ready", "problems": [problem]}, status_code=503)
    return JSONResponse({"status": "ready"})


async def metrics(request: Request) -> Response:
    services = _services(request)
    services.metrics.producer_queue.set(services.publisher.queue_length())
    services.metrics.kafka_reachable.set(1 if await services.publisher.is_ready() else 0)
    return metrics_response(services.metrics.registry)


def api_operations() -> list[Operation]:
    return [
        Operation("/api/v1/purchases", "POST", create_purchase, spec.purchase()),
        Operation("/api/v1/buy", "POST", buy, spec.compat_buy()),
        Operation("/api/v1/products", "GET", list_products, spec.catalog()),
        Operation(
            "/api/v1/users/{user_id}/purchases", "GET", user_purchases, spec.user_purchases()
        ),
        Operation(
            "/api/v1/users/{user_id}/purchases/{purchase_id}/cancel",
            "POST",
            cancel_purchase,
            spec.cancel(),
        ),
        Operation(
            "/api/v1/getAllUserBuys/{userid}",
            "GET",
            get_all_user_buys,
            spec.compat_user_purchases(),
        ),
        Operation("/api/v1/purchases/{purchase_id}", "GET", get_purchase, spec.stored_purchase()),
        Operation("/healthz", "GET", healthz, spec.liveness()),
        Operation("/readyz", "GET", readyz, spec.readiness()),
        Operation("/metrics", "GET", metrics, spec.metrics()),
    ]
