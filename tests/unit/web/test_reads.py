"""The read routes, forwarded to the management API."""

from __future__ import annotations

import pytest

from tests.unit.web.conftest import WebUnderTest

pytestmark = pytest.mark.anyio


async def _buy(web: WebUnderTest, user_id: str, product_id: str = "p-001") -> str:
    response = await web.client.post(
        "/api/v1/purchases", json={"user_id": user_id, "product_id": product_id}
    )
    assert response.status_code == 202
    purchase_id: str = response.json()["purchase_id"]
    return purchase_id


async def test_products_come_from_the_management_api(web: WebUnderTest) -> None:
    response = await web.client.get("/api/v1/products")
    assert response.status_code == 200
    products = response.json()
    assert products[0] == {
        "id": "p-001",
        "name": "Enamel mug",
        "price_cents": 1250,
        "currency": "EUR",
    }
    assert len(products) == len(web.reader.products)


async def test_user_purchases_pass_limit_and_cursor(web: WebUnderTest) -> None:
    ids = [await _buy(web, "ann") for _ in range(3)]
    await _buy(web, "bob")
    first = (await web.client.get("/api/v1/users/ann/purchases", params={"limit": 2})).json()
    assert len(first["items"]) == 2
    assert first["next_cursor"] is not None
    second = (
        await web.client.get(
            "/api/v1/users/ann/purchases", params={"limit": 2, "cursor": first["next_cursor"]}
        )
    ).json()
    seen = {item["purchase_id"] for item in first["items"] + second["items"]}
    assert seen == set(ids)
    assert web.reader.calls[-1] == ("ann", 2, first["next_cursor"])
    default = await web.client.get("/api/v1/users/ann/purchases")
    assert default.status_code == 200
    assert web.reader.calls[-1] == ("ann", 20, None)


async def test_get_all_user_buys_keeps_the_original_shape(web: WebUnderTest) -> None:
    await _buy(web, "ann", "p-002")
    response = await web.client.get("/api/v1/getAllUserBuys/ann")
    assert response.status_code == 200
    [item] = response.json()
    assert item["userid"] == "ann"
    assert item["price"] == 18.0
    assert item["product_name"] == "Canvas tote bag"
    assert (await web.client.get("/api/v1/getAllUserBuys/nobody")).json() == []


async def test_get_purchase_found_missing_and_malformed(web: WebUnderTest) -> None:
    purchase_id = await _buy(web, "ann")
    found = await web.client.get(f"/api/v1/purchases/{purchase_id}")
    assert found.status_code == 200
    assert found.json()["purchase_id"] == purchase_id
    missing = await web.client.get("/api/v1/purchases/6f1c2a52-3c1e-4a8e-9a43-5d2f0f1b7c11")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    malformed = await web.client.get("/api/v1/purchases/not-a-uuid")
    assert malformed.status_code == 422
    assert malformed.json()["error"]["details"][0]["field"] == "purchase_id"


async def test_reads_answer_503_when_the_management_api_is_down(web: WebUnderTest) -> None:
    web.reader.down = True
    for path in ("/api/v1/products", "/api/v1/users/ann/purchases", "/api/v1/getAllUserBuys/ann"):
        response = await web.client.get(path)
        assert response.status_code == 503, path
        assert response.headers["retry-after"] == "2"
