"""The management API's auth, health and error format, on mongomock (no servers).

The same endpoints are exercised against the real database in
tests/integration/consumer/test_management_api.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import mongomock
import pytest
from pymongo.errors import ServerSelectionTimeoutError
from starlette.testclient import TestClient

from shopsys.consumer.handlers import EventApplier
from shopsys.consumer.loop import ConsumerLoop
from shopsys.consumer.metrics import ConsumerMetrics
from shopsys.management.app import create_app
from shopsys.management.services import ConsumerServices
from shopsys.settings import ConsumerSettings
from shopsys.store import PurchaseStore
from tests.support.management_app import consumer_services
from tests.support.polling import eventually
from tests.unit.consumer.fakes import TOPIC, FakeConsumer, RecordingDeadLetters, event

TOKEN = "s3cret"  # noqa: S105 - a test token


class _Health:
    database_up = True

    def ping(self) -> None:
        if not self.database_up:
            raise ServerSelectionTimeoutError("no servers")


@pytest.fixture
def health() -> _Health:
    return _Health()


@pytest.fixture
def client(health: _Health) -> Iterator[TestClient]:
    database: Any = mongomock.MongoClient()["shopping"]
    PurchaseStore(database).store_purchases([event("ann"), event("ann", 2), event("bob")])

    def make_services(metrics: ConsumerMetrics) -> ConsumerServices:
        return consumer_services(metrics, database, ping_database=health.ping, admin_token=TOKEN)

    with TestClient(create_app(make_services)) as test_client:
        yield test_client


def test_product_writes_need_the_bearer_token(client: TestClient) -> None:
    body = {"name": "Lamp", "price_cents": 2500}
    denied = client.put("/api/v1/products/p-900", json=body)
    assert denied.status_code == 401
    assert denied.headers["www-authenticate"] == "Bearer"
    assert denied.json()["error"]["code"] == "unauthorized"
    wrong = client.put("/api/v1/products/p-900", json=body, headers={"Authorization": "Bearer x"})
    assert wrong.status_code == 401
    assert client.delete("/api/v1/products/p-900").status_code == 401

    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert client.put("/api/v1/products/p-900", json=body, headers=auth).status_code == 201
    assert client.get("/api/v1/products/p-900").json()["price_cents"] == 2500


def test_summary_and_errors_use_the_json_format(client: TestClient) -> None:
    summary = client.get("/api/v1/users/ann/summary").json()
    assert summary == {"user_id": "ann", "purchases": 2, "cancelled": 0, "total_cents": 1250 * 3}
    missing = client.get("/api/v1/purchases/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    bad = client.get("/api/v1/users/ann/purchases", params={"limit": "0"})
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["field"] == "limit"
    assert client.get("/nowhere").json()["error"]["code"] == "not_found"


def test_readiness_follows_the_database_and_liveness_the_loop(
    client: TestClient, health: _Health
) -> None:
    assert client.get("/readyz").status_code == 200
    health.database_up = False
    down = client.get("/readyz")
    assert down.status_code == 503
    assert down.json()["problems"] == ["mongodb unreachable: ServerSelectionTimeoutError"]
    assert client.get("/healthz").status_code == 200, "a down database is not a restart"


def test_the_ready_gauge_follows_readiness_at_each_scrape(
    client: TestClient, health: _Health
) -> None:
    assert "shopsys_consumer_ready 1.0" in client.get("/metrics").text
    health.database_up = False
    assert "shopsys_consumer_ready 0.0" in client.get("/metrics").text
    health.database_up = True
    assert "shopsys_consumer_ready 1.0" in client.get("/metrics").text


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_crashed_loop_fails_liveness_and_readiness() -> None:
    database: Any = mongomock.MongoClient()["shopping"]
    kafka = FakeConsumer(partitions=1)

    def bug(_consumer: FakeConsumer) -> None:
        raise ValueError("a bug in the loop")

    kafka.when_idle = bug

    def make_services(metrics: ConsumerMetrics) -> ConsumerServices:
        purchases = PurchaseStore(database)
        loop = ConsumerLoop(
            kafka,
            EventApplier(purchases, metrics),
            RecordingDeadLetters(),
            ConsumerSettings(batch_wait_ms=1),
            metrics,
            topic=TOPIC,
        )
        return consumer_services(metrics, database, purchases=purchases, loop=loop)

    with TestClient(create_app(make_services)) as client:
        eventually(
            lambda: True if client.get("/healthz").status_code == 503 else None,
            timeout=10,
            every=0.02,
            what="liveness to see the crash",
        )
        assert "the consumer loop crashed" in client.get("/readyz").json()["problems"]


def test_metrics_expose_the_consumer_series(client: TestClient) -> None:
    text = client.get("/metrics").text
    for name in (
        "shopsys_consumer_events_consumed_total",
        "shopsys_consumer_events_written_total",
        "shopsys_consumer_duplicates_ignored_total",
        "shopsys_consumer_events_dead_lettered_total",
        "shopsys_consumer_batch_size",
        "shopsys_consumer_write_duration_seconds",
        "shopsys_consumer_lag_messages",
    ):
        assert name in text


def test_what_the_services_opened_is_closed_at_shutdown() -> None:
    database: Any = mongomock.MongoClient()["shopping"]
    closed: list[bool] = []

    def make_services(metrics: ConsumerMetrics) -> ConsumerServices:
        return consumer_services(metrics, database, close=lambda: closed.append(True))

    with TestClient(create_app(make_services)) as test_client:
        assert test_client.get("/readyz").status_code == 200
        assert closed == []
    assert closed == [True]
