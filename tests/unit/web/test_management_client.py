"""The management API client: catalog caching that keeps slow reads out of the purchase path."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qs

import httpcore
import pytest

from shopsys.http.errors import ApiError
from shopsys.web.management_client import (
    HttpManagementReader,
    ManagementUnavailableError,
    stale_limit,
)

pytestmark = pytest.mark.anyio

CATALOG = [{"id": "p-1", "name": "Mug", "price_cents": 100, "currency": "EUR"}]


class FakeManagementApi(httpcore.AsyncConnectionPool):
    """The connection pool, answering as the management API would, without a network."""

    def __init__(self) -> None:
        super().__init__()
        self.catalog_calls = 0
        self.down = False
        self.delay = 0.0
        self.status = 200

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.down:
            raise httpcore.ConnectError("refused")
        path, _, query = request.url.target.decode().partition("?")
        if path == "/api/v1/products":
            self.catalog_calls += 1
            return _json(self.status, CATALOG)
        if path.endswith("/purchases"):
            if parse_qs(query).get("cursor") == ["bad"]:
                error = {"code": "validation_error", "message": "invalid cursor", "details": []}
                return _json(422, {"error": error})
            return _json(200, {"items": [], "next_cursor": None})
        return _json(404, {"error": {"code": "not_found", "message": "no"}})


def _json(status: int, body: Any) -> httpcore.Response:
    return httpcore.Response(status, content=json.dumps(body).encode())


def _reader(api: FakeManagementApi, ttl: float) -> HttpManagementReader:
    return HttpManagementReader(
        "http://management.test", api, timeout=1.0, catalog_cache_seconds=ttl
    )


async def test_catalog_is_cached_and_concurrent_misses_share_one_call() -> None:
    api = FakeManagementApi()
    api.delay = 0.05
    reader = _reader(api, ttl=60)
    results = await asyncio.gather(*(reader.list_products() for _ in range(20)))
    assert all(result[0].id == "p-1" for result in results)
    await reader.list_products()
    assert api.catalog_calls == 1
    await reader.close()


async def test_expired_catalog_is_served_while_refreshing_in_the_background() -> None:
    api = FakeManagementApi()
    reader = _reader(api, ttl=0.05)
    await reader.list_products()
    await asyncio.sleep(0.06)
    api.delay = 0.5  # a slow management API must not slow purchases down
    started = asyncio.get_running_loop().time()
    products = await reader.list_products()
    assert asyncio.get_running_loop().time() - started < 0.1
    assert products[0].id == "p-1"
    await asyncio.sleep(0.6)
    assert api.catalog_calls == 2
    await reader.close()


async def test_stale_catalog_survives_an_outage_but_no_catalog_is_a_503() -> None:
    api = FakeManagementApi()
    api.down = True
    reader = _reader(api, ttl=0.05)
    with pytest.raises(ManagementUnavailableError):
        await reader.list_products()
    api.down = False
    await reader.list_products()
    api.down = True
    await asyncio.sleep(0.06)
    assert (await reader.list_products())[0].id == "p-1"
    await asyncio.sleep(0.01)  # the failed background refresh is logged, not raised
    await reader.close()


async def test_unexpected_answers_are_503_not_500() -> None:
    api = FakeManagementApi()
    api.status = 401
    reader = _reader(api, ttl=60)
    with pytest.raises(ManagementUnavailableError) as raised:
        await reader.list_products()
    assert raised.value.status_code == 503
    await reader.close()


async def test_invalid_cursor_is_passed_on_as_422() -> None:
    reader = _reader(FakeManagementApi(), ttl=60)
    page: dict[str, Any] = await reader.list_user_purchases("ann", limit=5, cursor=None)
    assert page == {"items": [], "next_cursor": None}
    with pytest.raises(ApiError) as raised:
        await reader.list_user_purchases("ann", limit=5, cursor="bad")
    assert raised.value.status_code == 422
    assert await reader.get_purchase("6f1c2a52-3c1e-4a8e-9a43-5d2f0f1b7c11") is None
    await reader.close()


def test_stale_limit() -> None:
    assert stale_limit(0) == 0
    assert stale_limit(10) == 70
    assert stale_limit(100) == 600
