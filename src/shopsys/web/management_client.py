"""The web role's window on stored data: the management API, never MongoDB directly."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
from pydantic import ValidationError

from shopsys.http_errors import ApiError
from shopsys.models import Product

logger = logging.getLogger(__name__)


class ManagementUnavailableError(ApiError):
    def __init__(self, reason: str) -> None:
        super().__init__(
            503,
            f"the management API is unavailable: {reason}",
            headers={"Retry-After": "2"},
        )


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
        *,
        timeout: float,
        catalog_cache_seconds: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout, transport=transport
        )
        self._catalog_ttl = catalog_cache_seconds
        self._stale_limit = stale_limit(catalog_cache_seconds)
        self._catalog: list[Product] | None = None
        self._catalog_at = 0.0
        self._refresh: asyncio.Task[list[Product]] | None = None

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        try:
            response = await self._client.get(path, params=params)
        except httpx.HTTPError as error:
            raise ManagementUnavailableError(type(error).__name__) from error
        if response.status_code >= 500:
            raise ManagementUnavailableError(f"status {response.status_code}")
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
        response = await self._get(f"/api/v1/users/{user_id}/purchases", params)
        if response.status_code == 422:
            error = _payload(response, expected=422).get("error", {})
            raise ApiError(
                422, error.get("message", "invalid request"), details=error.get("details")
            )
        payload: dict[str, Any] = _payload(response, expected=200)
        return payload

    async def get_purchase(self, purchase_id: str) -> dict[str, Any] | None:
        response = await self._get(f"/api/v1/purchases/{purchase_id}")
        if response.status_code == 404:
            return None
        payload: dict[str, Any] = _payload(response, expected=200)
        return payload

    async def close(self) -> None:
        if self._refresh is not None:
            self._refresh.cancel()
        await self._client.aclose()


def _payload(response: httpx.Response, *, expected: int) -> Any:
    """The JSON body of an expected answer; anything else means the API is not usable now."""
    if response.status_code != expected:
        raise ManagementUnavailableError(f"unexpected status {response.status_code}")
    try:
        return response.json()
    except ValueError as error:
        raise ManagementUnavailableError("the answer is not JSON") from error
