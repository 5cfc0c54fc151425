"""The web app wired to in-memory fakes: no Kafka, no management API."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import mongomock
import pytest

from shopsys.consumer.handlers import EventApplier
from shopsys.consumer.metrics import ConsumerMetrics
from shopsys.events import Event
from shopsys.http.errors import invalid
from shopsys.initialize import DEFAULT_PRODUCTS
from shopsys.kafka.producer import EventPublisher, Headers, PublishError
from shopsys.models import Product
from shopsys.store import InvalidCursorError, PurchaseStore
from shopsys.web.app import create_app
from shopsys.web.management_client import ManagementReader, ManagementUnavailableError
from shopsys.web.services import WebBehaviour, WebMetrics, WebServices


class FakePublisher(EventPublisher):
    def __init__(self) -> None:
        self.published: list[tuple[Event, list[tuple[str, bytes]]]] = []
        self.failure: str | None = None
        self.delay = 0.0
        self.ready = True
        self.broken: str | None = None  # what problem() reports
        self.closed = False

    def problem(self) -> str | None:
        return self.broken

    async def publish(self, event: Event, headers: Headers = ()) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.failure is not None:
            raise PublishError(self.failure)
        self.published.append((event, list(headers)))

    async def is_ready(self) -> bool:
        return self.ready

    def queue_length(self) -> int:
        return 7

    async def close(self) -> None:
        self.closed = True


class FakeReader(ManagementReader):
    """Stores what the fake publisher accepted, like the consumer would."""

    def __init__(self, publisher: FakePublisher) -> None:
        self.publisher = publisher
        self.products: list[Product] = list(DEFAULT_PRODUCTS)
        self.down = False
        self.calls: list[tuple[str, int, str | None]] = []

    def _check(self) -> None:
        if self.down:
            raise ManagementUnavailableError("ConnectError")

    def _store(self) -> PurchaseStore:
        """What the consumer would have stored: every published event applied, in order, by
        the consumer's own handlers (to mongomock)."""
        store = PurchaseStore(mongomock.MongoClient()["shopping"])
        events = [event for event, _ in self.publisher.published]
        EventApplier(store, ConsumerMetrics()).apply(events, [("purchases", 0)] * len(events))
        return store

    async def list_products(self) -> list[Product]:
        self._check()
        return self.products

    async def list_user_purchases(
        self, user_id: str, *, limit: int, cursor: str | None
    ) -> dict[str, Any]:
        self._check()
        self.calls.append((user_id, limit, cursor))
        try:
            page = self._store().list_user_purchases(user_id, limit=limit, cursor=cursor)
        except InvalidCursorError:
            raise invalid("cursor", "is not a cursor this API issued") from None
        items = [item.model_dump() for item in page.items]
        return {"items": items, "next_cursor": page.next_cursor}

    async def get_purchase(self, purchase_id: str) -> dict[str, Any] | None:
        self._check()
        purchase = self._store().get_purchase(str(uuid.UUID(purchase_id)))
        return None if purchase is None else purchase.model_dump()


@dataclass
class WebUnderTest:
    client: httpx.AsyncClient
    publisher: FakePublisher
    reader: FakeReader
    services: list[WebServices] = field(default_factory=list)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def web() -> AsyncIterator[WebUnderTest]:
    """The app with its lifespan running, called in-process (tests are ``anyio``-marked)."""
    publisher = FakePublisher()
    reader = FakeReader(publisher)
    made: list[WebServices] = []

    def make_services(metrics: WebMetrics) -> WebServices:
        services = WebServices(
            publisher=publisher,
            reader=reader,
            settings=WebBehaviour(max_body_bytes=16_384),
            metrics=metrics,
        )
        made.append(services)
        return services

    app = create_app(make_services)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://web.test") as client,
    ):
        yield WebUnderTest(client=client, publisher=publisher, reader=reader, services=made)
