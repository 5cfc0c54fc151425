"""The internal management API: reads of stored purchases, catalog administration, health."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
import pymongo
from anyio import CapacityLimiter
from pydantic import ValidationError
from pymongo.errors import PyMongoError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from shopsys.http.errors import (
    ApiError,
    ServiceUnavailable,
    invalid,
    purchase_not_found,
    unknown_product,
    validation_details,
)
from shopsys.http.input import cursor_query, identifier_param, int_query, read_json_model
from shopsys.http.observability import metrics_response
from shopsys.http.responses import JSONResponse
from shopsys.management.services import ConsumerServices
from shopsys.models import Product
from shopsys.store import InvalidCursorError

T = TypeVar("T")


def _services(request: Request) -> ConsumerServices:
    services: ConsumerServices = request.app.state.services
    return services


async def _read(
    request: Request, read: Callable[[], T], *, threads: CapacityLimiter | None = None
) -> T:
    """Run a database call on the API's read threads, under its deadline: a slow database
    answers 503 before the caller stops waiting, and never holds the health checks' threads."""
    services = _services(request)

    def bounded() -> T:
        with pymongo.timeout(services.read_timeout):
            return read()

    try:
        return await anyio.to_thread.run_sync(bounded, limiter=threads or services.read_threads)
    except PyMongoError as error:
        reason = "did not answer in time" if error.timeout else "is unavailable"
        raise ServiceUnavailable(
            f"the database {reason}: {type(error).__name__}", code="database_unavailable"
        ) from error


def _require_token(request: Request) -> None:
    expected = _services(request).admin_token
    if expected is None:
        return
    supplied = request.headers.get("authorization", "")
    if not hmac.compare_digest(supplied.encode(), f"Bearer {expected}".encode()):
        raise ApiError(
            401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
        )


async def user_purchases(request: Request) -> Response:
    user_id = identifier_param(request, "user_id")
    limit = int_query(request, "limit", default=20, low=1, high=1_000)
    cursor = cursor_query(request)
    try:
        page = await _read(
            request,
            lambda: _services(request).purchases.list_user_purchases(
                user_id, limit=limit, cursor=cursor
            ),
        )
    except InvalidCursorError:
        raise invalid("cursor", "is not a cursor this API issued") from None
    return JSONResponse(
        {"items": [item.model_dump() for item in page.items], "next_cursor": page.next_cursor}
    )


async def user_summary(request: Request) -> Response:
    user_id = identifier_param(request, "user_id")
    summary = await _read(request, lambda: _services(request).purchases.user_summary(user_id))
    return JSONResponse(
        {
            "user_id": user_id,
            "purchases": summary.purchases,
            "cancelled": summary.cancelled,
            "total_cents": summary.total_cents,
        }
    )


async def get_purchase(request: Request) -> Response:
    purchase_id = str(request.path_params["purchase_id"])
    if len(purchase_id) > 64:
        raise invalid("purchase_id", "must be a UUID")
    purchase = await _read(request, lambda: _services(request).purchases.get_purchase(purchase_id))
    if purchase is None:
        raise purchase_not_found()
    return JSONResponse(purchase.model_dump())


async def list_products(request: Request) -> Response:
    services = _services(request)
    products = await _read(
        request, services.catalog.list_products, threads=services.catalog_threads
    )
    return JSONResponse([product.model_dump() for product in products])


async def get_product(request: Request) -> Response:
    product_id = identifier_param(request, "product_id")
    services = _services(request)
    product = await _read(
        request, lambda: services.catalog.get_product(product_id), threads=services.catalog_threads
    )
    if product is None:
        raise unknown_product(product_id)
    return JSONResponse(product.model_dump())


async def put_product(request: Request) -> Response:
    _require_token(request)
    product_id = identifier_param(request, "product_id")
    body: dict[str, Any] = (
        await read_json_model(request, _ProductBody, max_bytes=16_384)
    ).model_dump(exclude_none=True)
    try:
        product = Product.model_validate({**body, "id": product_id})
    except ValidationError as error:
        raise ApiError(422, "invalid product", details=validation_details(error)) from None
    services = _services(request)
    created = await _read(
        request, lambda: services.catalog.put_product(product), threads=services.catalog_threads
    )
    return JSONResponse(product.model_dump(), status_code=201 if created else 200)


async def delete_product(request: Request) -> Response:
    _require_token(request)
    product_id = identifier_param(request, "product_id")
    services = _services(request)
    deleted = await _read(
        request,
        lambda: services.catalog.delete_product(product_id),
        threads=services.catalog_threads,
    )
    if not deleted:
        raise unknown_product(product_id)
    return Response(status_code=204)


async def healthz(request: Request) -> Response:
    """Liveness: a crashed consumer loop needs a restart; a down database does not."""
    if not _services(request).consumer_alive():
        return JSONResponse({"status": "consumer loop crashed"}, status_code=503)
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    problems = await _readiness_problems(request)
    if problems:
        return JSONResponse({"status": "not ready", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ready"})


async def metrics(request: Request) -> Response:
    await _readiness_problems(request)
    return metrics_response(_services(request).metrics.registry)


async def _readiness_problems(request: Request) -> list[str]:
    """Why the consumer is not ready (empty: ready), also kept in the ``ready`` gauge so an
    alert sees what the readiness probe saw."""
    services = _services(request)
    problems = await anyio.to_thread.run_sync(
        services.readiness_problems, limiter=services.health_threads
    )
    services.metrics.ready.set(0 if problems else 1)
    return problems


def management_routes() -> list[BaseRoute]:
    return [
        Route("/api/v1/users/{user_id}/purchases", user_purchases, methods=["GET"]),
        Route("/api/v1/users/{user_id}/summary", user_summary, methods=["GET"]),
        Route("/api/v1/purchases/{purchase_id}", get_purchase, methods=["GET"]),
        Route("/api/v1/products", list_products, methods=["GET"]),
        Route("/api/v1/products/{product_id}", get_product, methods=["GET"]),
        Route("/api/v1/products/{product_id}", put_product, methods=["PUT"]),
        Route("/api/v1/products/{product_id}", delete_product, methods=["DELETE"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]


class _ProductBody(Product):
    """PUT body: the id comes from the path, so it may be omitted in the body."""

    id: str | None = None  # type: ignore[assignment]
