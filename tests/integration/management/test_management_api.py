"""The management API against the real database (FerretDB, or SHOPSYS_TEST_MONGODB_URI)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from shopsys.consumer.metrics import ConsumerMetrics
from shopsys.devtools.provision import FerretDBServer
from shopsys.events import PurchasePlaced
from shopsys.initialize import DEFAULT_PRODUCTS
from shopsys.management.app import _ping, create_app
from shopsys.management.services import ConsumerServices
from shopsys.settings import MongoSettings
from shopsys.store import CatalogStore, PurchaseStore, connect
from tests.support.management_app import consumer_services
from tests.unit.consumer.fakes import event

pytestmark = pytest.mark.integration

TOKEN = "admin-token"  # noqa: S105 - a test token
AUTH = {"Authorization": f"Bearer {TOKEN}"}
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _at(user_id: str, seconds: int, quantity: int = 1) -> PurchasePlaced:
    made = event(user_id, quantity)
    return made.model_copy(update={"created_at": START + timedelta(seconds=seconds)})


@pytest.fixture
def history() -> list[PurchasePlaced]:
    # Two purchases share a timestamp: the cursor must still neither skip nor repeat one.
    return [_at("ann", s, quantity=1 + s % 3) for s in (0, 1, 2, 2, 3, 4, 5)] + [_at("bob", 1)]


@pytest.fixture
def client(
    mongo_settings: MongoSettings, mongo_database: Any, history: list[PurchasePlaced]
) -> Iterator[TestClient]:
    mongo = connect(mongo_settings)
    database = mongo[mongo_settings.database]
    PurchaseStore(database).ensure_indexes()
    CatalogStore(database).seed_if_empty(DEFAULT_PRODUCTS)
    PurchaseStore(database).store_purchases(history)

    def make_services(metrics: ConsumerMetrics) -> ConsumerServices:
        return consumer_services(
            metrics, database, ping_database=lambda: _ping(mongo), admin_token=TOKEN
        )

    try:
        with TestClient(create_app(make_services)) as test_client:
            yield test_client
    finally:
        mongo.close()


def test_user_purchases_are_newest_first_with_cursor_pages(
    client: TestClient, history: list[PurchasePlaced]
) -> None:
    ann = [item for item in history if item.user_id == "ann"]
    expected = [
        str(item.purchase_id)
        for item in sorted(ann, key=lambda e: (e.created_at, str(e.purchase_id)), reverse=True)
    ]
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 3}
    pages = 0
    while True:
        response = client.get("/api/v1/users/ann/purchases", params=params)
        assert response.status_code == 200
        page = response.json()
        pages += 1
        seen.extend(item["purchase_id"] for item in page["items"])
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == expected
    assert pages == 3
    first = client.get("/api/v1/users/ann/purchases", params={"limit": 1}).json()["items"][0]
    assert first["created_at"] == "2026-03-01T12:00:05.000Z"
    assert client.get("/api/v1/users/nobody/purchases").json() == {"items": [], "next_cursor": None}
    forged = client.get("/api/v1/users/ann/purchases", params={"cursor": "Zm9v"})
    assert forged.status_code == 422
    assert forged.json()["error"]["details"][0]["field"] == "cursor"


def test_summary_and_single_purchase(client: TestClient, history: list[PurchasePlaced]) -> None:
    ann = [item for item in history if item.user_id == "ann"]
    summary = client.get("/api/v1/users/ann/summary").json()
    assert summary == {
        "user_id": "ann",
        "purchases": len(ann),
        "cancelled": 0,
        "total_cents": sum(item.total_cents for item in ann),
    }
    assert client.get("/api/v1/users/nobody/summary").json()["purchases"] == 0

    wanted = history[-1]
    found = client.get(f"/api/v1/purchases/{wanted.purchase_id}")
    assert found.status_code == 200
    assert found.json()["user_id"] == "bob"
    assert found.json()["total_cents"] == wanted.total_cents
    missing = client.get("/api/v1/purchases/11111111-1111-1111-1111-111111111111")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_catalog_administration_with_the_bearer_token(client: TestClient) -> None:
    listed = client.get("/api/v1/products").json()
    assert [product["id"] for product in listed] == [p.id for p in DEFAULT_PRODUCTS]
    body = {"name": "Desk lamp", "price_cents": 3900, "currency": "EUR"}
    assert client.put("/api/v1/products/p-100", json=body).status_code == 401
    created = client.put("/api/v1/products/p-100", json=body, headers=AUTH)
    assert created.status_code == 201
    assert created.json() == {"id": "p-100", **body}
    replaced = client.put(
        "/api/v1/products/p-100", json={**body, "price_cents": 4200}, headers=AUTH
    )
    assert replaced.status_code == 200
    assert client.get("/api/v1/products/p-100").json()["price_cents"] == 4200
    invalid = client.put("/api/v1/products/p-100", json={**body, "price_cents": 0}, headers=AUTH)
    assert invalid.status_code == 422
    assert [detail["field"] for detail in invalid.json()["error"]["details"]] == ["price_cents"]
    assert client.delete("/api/v1/products/p-100").status_code == 401
    assert client.delete("/api/v1/products/p-100", headers=AUTH).status_code == 204
    assert client.delete("/api/v1/products/p-100", headers=AUTH).status_code == 404
    assert client.get("/api/v1/products/p-100").status_code == 404


def test_health_against_the_real_database(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ready"}


def test_serve_consumer_takes_its_token_from_the_environment(system_factory: Any) -> None:
    with system_factory(env={"SHOPSYS_MANAGEMENT_TOKEN": TOKEN}) as system:
        url = f"{system.management_url}/api/v1/products/p-777"
        body = {"name": "Poster", "price_cents": 990}
        assert httpx.put(url, json=body, timeout=10).status_code == 401
        assert httpx.put(url, json=body, headers=AUTH, timeout=10).status_code == 201
        ready = httpx.get(f"{system.management_url}/readyz", timeout=10)
        assert ready.json() == {"status": "ready"}


def test_a_stalled_database_answers_reads_with_503_before_the_caller_gives_up(
    system_factory: Any, ferretdb_server: FerretDBServer | None
) -> None:
    """The database stalls (SIGSTOP): each read ends at its deadline with a 503 to retry,
    well before web's own timeout, and readiness answers at once, beside the waiting reads."""
    if ferretdb_server is None:
        pytest.skip("the MongoDB server is external (SHOPSYS_TEST_MONGODB_URI): cannot stall it")
    env = {"SHOPSYS_MANAGEMENT_READ_TIMEOUT_SECONDS": "0.5"}
    with system_factory(env=env) as system:
        history = f"{system.management_url}/api/v1/users/ann/purchases"
        assert httpx.get(history, timeout=5).status_code == 200
        with ferretdb_server.frozen():
            started = time.monotonic()
            answer = httpx.get(history, timeout=5)
            took = time.monotonic() - started
            ready = httpx.get(f"{system.management_url}/readyz", timeout=2)
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "database_unavailable"
        assert took < 2.0, f"the read took {took:.1f}s: longer than its deadline allows"
        assert ready.status_code == 503  # the ping is bounded too, and says why
        assert httpx.get(history, timeout=5).status_code == 200
