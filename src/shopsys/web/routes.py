"""The public storefront API: where a purchase enters the system."""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from shopsys.http_errors import ApiError, invalid
from shopsys.http_input import cursor_query, identifier_param, int_query, read_json_model
from shopsys.kafka.producer import PublishError
from shopsys.models import (
    ADHOC_PRODUCT_ID,
    BuyRequest,
    Product,
    PurchaseEvent,
    PurchaseRequest,
    new_purchase_event,
    purchase_id_for,
)
from shopsys.observability import metrics_response
from shopsys.web.services import WebServices

_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
COMPAT_HISTORY_LIMIT = 1_000
BASELINE_PATH = "/api/v1/benchmark/baseline-purchases"
logger = logging.getLogger(__name__)


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


async def _publish(request: Request, event: PurchaseEvent) -> None:
    services = _services(request)
    headers = []
    traceparent = request.headers.get("traceparent")
    if traceparent is not None and _TRACEPARENT.fullmatch(traceparent):
        headers.append(("traceparent", traceparent.encode()))
    try:
        await services.publisher.publish(event, headers)
    except PublishError as error:
        services.metrics.events_failed.inc()
        logger.warning("purchase %s not accepted: %s", event.purchase_id, error)
        raise ApiError(
            503,
            f"the purchase was not accepted, please retry: {error}",
            code="kafka_unavailable",
            headers={"Retry-After": str(services.settings.retry_after_seconds)},
        ) from error
    services.metrics.events_produced.inc()


async def create_purchase(request: Request) -> Response:
    return await _accept_purchase(request, publish=True)


async def baseline_purchase(request: Request) -> Response:
    """Benchmark baseline: everything ``create_purchase`` does except waiting for Kafka."""
    return await _accept_purchase(request, publish=False)


async def _accept_purchase(request: Request, *, publish: bool) -> Response:
    services = _services(request)
    body = await read_json_model(
        request, PurchaseRequest, max_bytes=services.settings.max_body_bytes
    )
    key = _idempotency_key(request)
    product = await _find_product(services, body.product_id)
    event = new_purchase_event(
        purchase_id=purchase_id_for(body.user_id, key),
        user_id=body.user_id,
        username=body.username,
        product=product,
        quantity=body.quantity,
    )
    if publish:
        await _publish(request, event)
    else:
        event.to_json()  # the serialisation cost stays in the baseline
    purchase_id = str(event.purchase_id)
    return JSONResponse(
        {
            "purchase_id": purchase_id,
            "status": "accepted",
            "total_cents": event.total_cents,
            "currency": event.currency,
        },
        status_code=202,
        headers={"Location": f"/api/v1/purchases/{purchase_id}"},
    )


async def _find_product(services: WebServices, product_id: str) -> Product:
    for product in await services.reader.list_products():
        if product.id == product_id:
            return product
    raise ApiError(404, f"unknown product {product_id!r}", code="unknown_product")


async def buy(request: Request) -> Response:
    """Compatibility with the original service: a client-priced ad-hoc item."""
    services = _services(request)
    body = await read_json_model(request, BuyRequest, max_bytes=services.settings.max_body_bytes)
    key = _idempotency_key(request)
    item = Product(id=ADHOC_PRODUCT_ID, name="Ad-hoc item", price_cents=body.price_cents)
    event = new_purchase_event(
        purchase_id=purchase_id_for(body.userid, key),
        user_id=body.userid,
        username=body.username,
        product=item,
        quantity=1,
    )
    await _publish(request, event)
    purchase_id = str(event.purchase_id)
    data = {
        "username": body.username,
        "userid": body.userid,
        "price": event.total_cents / 100,
        "total_cents": event.total_cents,
        "currency": event.currency,
        "created_at": event.model_dump(mode="json")["created_at"],
    }
    return JSONResponse(
        {"status": "success", "purchase_id": purchase_id, "data": data},
        status_code=202,
        headers={"Location": f"/api/v1/purchases/{purchase_id}"},
    )


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
    raw = str(request.path_params["purchase_id"])
    try:
        purchase_id = str(uuid.UUID(raw))
    except ValueError:
        raise invalid("purchase_id", "must be a UUID") from None
    purchase = await _services(request).reader.get_purchase(purchase_id)
    if purchase is None:
        raise ApiError(404, "purchase not found (it may not be stored yet)")
    return JSONResponse(purchase)


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    # Kafka is deliberately not a condition: during a Kafka outage the pod stays in its
    # Service, reads keep working and each purchase gets 503 with Retry-After, instead of
    # every web pod leaving the Service and clients getting connection refused.
    if _services(request).shutting_down:
        return JSONResponse({"status": "shutting down"}, status_code=503)
    return JSONResponse({"status": "ready"})


async def metrics(request: Request) -> Response:
    services = _services(request)
    services.metrics.producer_queue.set(services.publisher.queue_length())
    services.metrics.kafka_reachable.set(1 if await services.publisher.is_ready() else 0)
    return metrics_response(services.metrics.registry)


def api_routes(*, benchmark_baseline: bool = False) -> list[BaseRoute]:
    baseline = [Route(BASELINE_PATH, baseline_purchase, methods=["POST"])]
    return [
        *(baseline if benchmark_baseline else []),
        Route("/api/v1/purchases", create_purchase, methods=["POST"]),
        Route("/api/v1/buy", buy, methods=["POST"]),
        Route("/api/v1/products", list_products, methods=["GET"]),
        Route("/api/v1/users/{user_id}/purchases", user_purchases, methods=["GET"]),
        Route("/api/v1/getAllUserBuys/{userid}", get_all_user_buys, methods=["GET"]),
        Route("/api/v1/purchases/{purchase_id}", get_purchase, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
