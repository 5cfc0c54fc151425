"""The web role's window on stored data: the management API, never MongoDB directly.

Spoken with httpcore, the HTTP engine under httpx: the storefront needs GETs on a pooled
connection and nothing more, and httpx would bring its command line's imports (rich,
pygments) into every web process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any
from urllib.parse import quote, urlencode

import httpcore
from pydantic import ValidationError

from shopsys.http.errors import ApiError, ServiceUnavailable
from shopsys.models import Product

logger = logging.getLogger(__name__)

# Everything httpcore raises for a request that got no usable answer.
TRANSPORT_ERRORS = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
)


class ManagementUnavailableError(ServiceUnavailable):
    def __init__(self, reason: str) -> None:
        super().__init__(f"the management API is unavailable: {reason}")


class ManagementReader:
    """Read access to purchases and the catalog; tests substitute a subclass."""

    async def list_products(self) -> list[Product]:
        raise NotImplementedError

    async def list_user_purchases(
        self, user_id: str, *, limit: int, cursor: str | None
    ) -> dict[str, Any]:
        raise NotImplementedError

    async def get_purchase(self, purchase_id: str) -> dict[str, Any] | None:
        raise NotImplementedError

    async def close(self) -> None:
        return None


def stale_limit(ttl: float) -> float:
    """How old a cached catalog may get while the management API does not answer."""
    return 0.0 if ttl <= 0 else max(6 * ttl, ttl + 60.0)


class HttpManagementReader(ManagementReader):
    """Calls the management API over HTTP and caches the catalog.

    An expired catalog is refreshed in the background while requests keep using it, so a slow
    management API never sits in the purchase path; only with no catalog at all (or one older
    than ``stale_limit``) do requests wait, all of them for the same single refresh.
    """

    def __init__(
        self,
        base_url: str,
        pool: httpcore.AsyncConnectionPool,
        *,
        timeout: float,
        catalog_cache_seconds: float,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._pool = pool
        self._timeouts = {phase: timeout for phase in ("connect", "read", "write", "pool")}
        self._catalog_ttl = catalog_cache_seconds
        self._stale_limit = stale_limit(catalog_cache_seconds)
        self._catalog: list[Product] | None = None
        self._catalog_at = 0.0
        self._refresh: asyncio.Task[list[Product]] | None = None

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> httpcore.Response:
        url = self._base_url + path + (f"?{urlencode(params)}" if params else "")
        try:
            response = await self._pool.request("GET", url, extensions={"timeout": self._timeouts})
        except TRANSPORT_ERRORS as error:
            raise ManagementUnavailableError(type(error).__name__) from error
        if response.status >= 500:
            raise ManagementUnavailableError(f"status {response.status}")
        return response

    async def list_products(self) -> list[Product]:
        age = time.monotonic() - self._catalog_at
        if self._catalog is not None and age < self._catalog_ttl:
            return self._catalog
        refresh = self._start_refresh()
        if self._catalog is not None and age < self._stale_limit:
            return self._catalog
        return await asyncio.shield(refresh)

    def _start_refresh(self) -> asyncio.Task[list[Product]]:
        if self._refresh is None:
            self._refresh = asyncio.create_task(self._fetch_catalog())
            self._refresh.add_done_callback(self._refresh_done)
        return self._refresh

    def _refresh_done(self, task: asyncio.Task[list[Product]]) -> None:
        self._refresh = None
        if not task.cancelled() and task.exception() is not None:
            logger.warning("catalog refresh failed: %s", task.exception())

    async def _fetch_catalog(self) -> list[Product]:
        response = await self._get("/api/v1/products")
        payload = _payload(response, expected=200)
        try:
            catalog = [Product.model_validate(item) for item in payload]
        except (TypeError, ValidationError) as error:
            raise ManagementUnavailableError("the catalog it sent is invalid") from error
        self._catalog, self._catalog_at = catalog, time.monotonic()
        return catalog

    async def list_user_purchases(
        self, user_id: str, *, limit: int, cursor: str | None
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        response = await self._get(f"/api/v1/users/{quote(user_id, safe='')}/purchases", params)
        if response.status == 422:
            error = _payload(response, expected=422).get("error", {})
            raise ApiError(
                422, error.get("message", "invalid request"), details=error.get("details")
            )
        payload: dict[str, Any] = _payload(response, expected=200)
        return payload

    async def get_purchase(self, purchase_id: str) -> dict[str, Any] | None:
        response = await self._get(f"/api/v1/purchases/{quote(purchase_id, safe='')}")
        if response.status == 404:
            return None
        payload: dict[str, Any] = _payload(response, expected=200)
        return payload

    async def close(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
        await self._pool.aclose()


def _payload(response: httpcore.Response, *, expected: int) -> Any:
    """The JSON body of an expected answer; anything else means the API is not usable now."""
    if response.status != expected:
        raise ManagementUnavailableError(f"unexpected status {response.status}")
    try:
        return json.loads(response.content)
    except ValueError as error:
        raise ManagementUnavailableError("the answer is not JSON") from error
