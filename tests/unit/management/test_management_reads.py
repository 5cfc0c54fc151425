"""The management API's reads: on threads of their own, under a deadline. Health checks
and the catalog never wait behind slow histories; a read past its deadline is a 503."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import httpx
import mongomock
import pytest
from pymongo.errors import ExecutionTimeout

from shopsys.consumer.metrics import ConsumerMetrics
from shopsys.management.app import create_app
from shopsys.management.services import ConsumerServices
from shopsys.store import HistoryPage, PurchaseStore
from tests.support.management_app import consumer_services

pytestmark = pytest.mark.anyio

SLOW_READS = 60  # more than any default thread pool holds


class SlowHistories(PurchaseStore):
    """The real store whose history reads block until released (or raise a timeout)."""

    def __init__(self, database: Any) -> None:
        super().__init__(database)
        self.release = threading.Event()
        self.waiting = 0
        self.timeout = False

    def list_user_purchases(
        self, user_id: str, *, limit: int, cursor: str | None = None
    ) -> HistoryPage:
        if self.timeout:
            raise ExecutionTimeout("operation exceeded time limit", 50)
        self.waiting += 1
        self.release.wait(10)
        return super().list_user_purchases(user_id, limit=limit, cursor=cursor)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def api() -> AsyncIterator[tuple[httpx.AsyncClient, SlowHistories]]:
    database: Any = mongomock.MongoClient()["shopping"]
    store = SlowHistories(database)

    def make_services(metrics: ConsumerMetrics) -> ConsumerServices:
        return consumer_services(metrics, database, purchases=store, read_timeout=0.5)

    app = create_app(make_services)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://management.test") as client,
    ):
        yield client, store
        store.release.set()


async def test_health_and_the_catalog_never_wait_behind_slow_reads(
    api: tuple[httpx.AsyncClient, SlowHistories],
) -> None:
    client, store = api
    reads = [
        asyncio.ensure_future(client.get(f"/api/v1/users/u{i}/purchases"))
        for i in range(SLOW_READS)
    ]
    for _ in range(500):  # until every read thread is taken
        if store.waiting >= 32:
            break
        await asyncio.sleep(0.01)
    assert store.waiting == 32

    for path in ("/readyz", "/metrics", "/api/v1/products"):
        answer = await asyncio.wait_for(client.get(path), timeout=2)
        assert answer.status_code == 200, path

    store.release.set()
    assert {(await read).status_code for read in reads} == {200}


async def test_a_read_past_its_deadline_is_a_503_to_retry(
    api: tuple[httpx.AsyncClient, SlowHistories],
) -> None:
    client, store = api
    store.timeout = True
    answer = await client.get("/api/v1/users/ann/purchases")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "2"
    assert answer.json()["error"]["code"] == "database_unavailable"
    assert "did not answer in time" in answer.json()["error"]["message"]
