"""End to end: both roles as ``shopsys`` subprocesses, real Kafka, real MongoDB-wire server."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from pymongo.database import Database

from tests.support.polling import eventually
from tests.support.reads import stored_purchase
from tests.support.system import RunningSystem

pytestmark = pytest.mark.integration

USERS = 20
PURCHASES = 200


def _post(client: httpx.Client, index: int) -> tuple[str, str]:
    user_id = f"user-{index % USERS:02d}"
    if index % 2 == 0:
        response = client.post(
            "/api/v1/purchases",
            json={"user_id": user_id, "product_id": "p-00" + str(1 + index % 6), "quantity": 2},
        )
    else:
        response = client.post(
            "/api/v1/buy",
            json={"username": f"User {index % USERS}", "userid": user_id, "price": 3.5},
        )
    assert response.status_code == 202, response.text
    purchase_id: str = response.json()["purchase_id"]
    assert response.headers["location"] == f"/api/v1/purchases/{purchase_id}"
    return user_id, purchase_id


def test_every_accepted_purchase_is_stored_exactly_once(
    running_system: RunningSystem, mongo_database: Database[Any]
) -> None:
    with httpx.Client(base_url=running_system.web_url, timeout=30) as client:
        with ThreadPoolExecutor(max_workers=8) as pool:
            accepted = list(pool.map(lambda i: _post(client, i), range(PURCHASES)))
        expected: dict[str, set[str]] = {}
        for user_id, purchase_id in accepted:
            expected.setdefault(user_id, set()).add(purchase_id)
        assert len({purchase_id for _, purchase_id in accepted}) == PURCHASES

        seen: dict[str, set[str]] = {}

        def every_purchase_returned() -> bool | None:
            for user_id in expected:
                response = client.get(f"/api/v1/getAllUserBuys/{user_id}")
                assert response.status_code == 200
                seen[user_id] = {item["purchase_id"] for item in response.json()}
            return True if seen == expected else None

        eventually(
            every_purchase_returned,
            timeout=15,
            every=0.25,
            what="every accepted purchase returned by getAllUserBuys",
        )

        history = client.get("/api/v1/getAllUserBuys/user-03").json()
        created = [item["created_at"] for item in history]
        assert created == sorted(created, reverse=True), "getAllUserBuys must be newest first"

    assert mongo_database["purchases"].count_documents({}) == PURCHASES


def test_paginated_history_and_read_back(running_system: RunningSystem) -> None:
    with httpx.Client(base_url=running_system.web_url, timeout=30) as client:
        ids = []
        for quantity in range(1, 6):
            response = client.post(
                "/api/v1/purchases",
                json={"user_id": "pager", "product_id": "p-002", "quantity": quantity},
            )
            assert response.status_code == 202
            ids.append(response.json()["purchase_id"])
            time.sleep(0.01)  # distinct created_at, so newest-first order is the post order
        stored = eventually(
            lambda: stored_purchase(client, ids[-1]), timeout=15, what="the last purchase"
        )
        assert stored["total_cents"] == 5 * 1800
        assert stored["product_name"] == "Canvas tote bag"

        def all_five() -> list[str] | None:
            page = client.get("/api/v1/users/pager/purchases?limit=100").json()
            items = [item["purchase_id"] for item in page["items"]]
            return items if len(items) == 5 else None

        assert eventually(all_five, timeout=15, what="five purchases") == ids[::-1]

        pages: list[list[str]] = []
        params: dict[str, Any] = {"limit": 2}
        while True:
            page = client.get("/api/v1/users/pager/purchases", params=params).json()
            pages.append([item["purchase_id"] for item in page["items"]])
            if page["next_cursor"] is None:
                break
            params["cursor"] = page["next_cursor"]
        assert pages == [ids[4:2:-1], ids[2:0:-1], ids[0:1]]


def test_bad_input_is_a_422_naming_the_field(running_system: RunningSystem) -> None:
    with httpx.Client(base_url=running_system.web_url, timeout=30) as client:
        response = client.post(
            "/api/v1/purchases", json={"user_id": "u1", "product_id": "p-001", "quantity": 0}
        )
        assert response.status_code == 422
        fields = [detail["field"] for detail in response.json()["error"]["details"]]
        assert fields == ["quantity"]

        response = client.post("/api/v1/buy", json={"username": "Ann", "userid": "u1"})
        assert response.status_code == 422
        assert [d["field"] for d in response.json()["error"]["details"]] == ["price"]

        response = client.post(
            "/api/v1/purchases",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "validation_error"

        response = client.post(
            "/api/v1/purchases", json={"user_id": "u1", "product_id": "p-999", "quantity": 1}
        )
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "unknown_product"
