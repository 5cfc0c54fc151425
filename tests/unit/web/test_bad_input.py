"""Every bad input is answered with a JSON 4xx naming what is wrong — never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.web.conftest import WebUnderTest

pytestmark = pytest.mark.anyio

GOOD: dict[str, Any] = {"user_id": "ann", "product_id": "p-001", "quantity": 1}
GOOD_BUY: dict[str, Any] = {"username": "Ann", "userid": "ann", "price": 3.5}


def _with(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = {**base, **changes}
    return {key: value for key, value in body.items() if value is not ...}


PURCHASE_CASES = [
    pytest.param(_with(GOOD, quantity=0), ["quantity"], id="zero-quantity"),
    pytest.param(_with(GOOD, quantity=-3), ["quantity"], id="negative-quantity"),
    pytest.param(_with(GOOD, quantity=1001), ["quantity"], id="huge-quantity"),
    pytest.param(_with(GOOD, quantity=10**30), ["quantity"], id="enormous-quantity"),
    pytest.param(_with(GOOD, quantity=1.5), ["quantity"], id="fractional-quantity"),
    pytest.param(_with(GOOD, quantity="2"), ["quantity"], id="string-quantity"),
    pytest.param(_with(GOOD, quantity=True), ["quantity"], id="bool-quantity"),
    pytest.param(_with(GOOD, user_id=...), ["user_id"], id="missing-user"),
    pytest.param(_with(GOOD, product_id=...), ["product_id"], id="missing-product"),
    pytest.param(_with(GOOD, user_id=42), ["user_id"], id="numeric-user"),
    pytest.param(_with(GOOD, user_id=""), ["user_id"], id="empty-user"),
    pytest.param(_with(GOOD, user_id="u" * 65), ["user_id"], id="long-user"),
    pytest.param(_with(GOOD, user_id="ann\n"), ["user_id"], id="newline-user"),
    pytest.param(_with(GOOD, user_id="a\x00b"), ["user_id"], id="nul-user"),
    pytest.param(_with(GOOD, user_id="-ann"), ["user_id"], id="leading-dash-user"),
    pytest.param(_with(GOOD, user_id="an n"), ["user_id"], id="space-user"),
    pytest.param(_with(GOOD, product_id="p/001"), ["product_id"], id="slash-product"),
    pytest.param(_with(GOOD, username="A\tnn"), ["username"], id="control-username"),
    pytest.param(_with(GOOD, username="x" * 101), ["username"], id="long-username"),
    pytest.param(_with(GOOD, username=""), ["username"], id="empty-username"),
    pytest.param(_with(GOOD, price_cents=1), ["price_cents"], id="unknown-field"),
    pytest.param(_with(GOOD, user_id=None, quantity=0), ["user_id", "quantity"], id="two-fields"),
]


BUY_CASES = [
    pytest.param(_with(GOOD_BUY, price=0), ["price"], id="zero-price"),
    pytest.param(_with(GOOD_BUY, price=-1), ["price"], id="negative-price"),
    pytest.param(_with(GOOD_BUY, price=1e7), ["price"], id="huge-price"),
    pytest.param(_with(GOOD_BUY, price="3.5"), ["price"], id="string-price"),
    pytest.param(_with(GOOD_BUY, price=True), ["price"], id="bool-price"),
    pytest.param(_with(GOOD_BUY, price=None), ["price"], id="null-price"),
    pytest.param(_with(GOOD_BUY, price=...), ["price"], id="missing-price"),
    pytest.param(_with(GOOD_BUY, username=...), ["username"], id="missing-username"),
    pytest.param(_with(GOOD_BUY, userid="a" * 65), ["userid"], id="long-userid"),
    pytest.param(_with(GOOD_BUY, userid="a\u0085b"), ["userid"], id="unicode-control-userid"),
]


BODY_CASES = [
    *(pytest.param("/api/v1/purchases", *case.values, id=case.id) for case in PURCHASE_CASES),
    *(pytest.param("/api/v1/buy", *case.values, id=f"buy-{case.id}") for case in BUY_CASES),
]


@pytest.mark.parametrize(("path", "body", "fields"), BODY_CASES)
async def test_an_invalid_body_is_named_field_by_field_and_nothing_is_published(
    web: WebUnderTest, path: str, body: dict[str, Any], fields: list[str]
) -> None:
    response = await web.client.post(path, json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert [detail["field"] for detail in error["details"]] == fields
    assert web.publisher.published == []


RAW_CASES = [
    pytest.param(b"{not json", "application/json", "body", id="not-json"),
    pytest.param(b"", "application/json", "body", id="empty"),
    pytest.param(b"[1, 2]", "application/json", "body", id="array"),
    pytest.param(b'"text"', "application/json", "body", id="string"),
    pytest.param(b"\xff\xfe\x00", "application/json", "body", id="not-utf8"),
    pytest.param(b"[" * 5000 + b"]" * 5000, "application/json", "body", id="deep-nesting"),
    pytest.param(b'{"quantity": NaN}', "application/json", None, id="nan"),
    pytest.param(b'{"user_id": "\\ud800"}', "application/json", None, id="lone-surrogate"),
    pytest.param(b'{"quantity": 1' + b"0" * 5000 + b"}", "application/json", "body", id="long-int"),
    pytest.param(b'{"user_id": "ann"}', "text/plain", "content-type", id="text-plain"),
    pytest.param(b"user_id=ann", "application/x-www-form-urlencoded", "content-type", id="form"),
    pytest.param(b'{"user_id": "ann"}', None, "content-type", id="no-content-type"),
]


@pytest.mark.parametrize(("content", "content_type", "field"), RAW_CASES)
@pytest.mark.parametrize("path", ["/api/v1/purchases", "/api/v1/buy"])
async def test_malformed_bodies_are_422(
    web: WebUnderTest, path: str, content: bytes, content_type: str | None, field: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = await web.client.post(path, content=content, headers=headers)
    assert response.status_code == 422, response.text
    details = response.json()["error"]["details"]
    if field is not None:
        assert [detail["field"] for detail in details] == [field]


async def test_body_over_the_limit_is_413(web: WebUnderTest) -> None:
    big = {**GOOD, "username": "x" * 20_000}
    response = await web.client.post("/api/v1/purchases", json=big)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_streamed_body_over_the_limit_is_413(web: WebUnderTest) -> None:
    async def chunks() -> Any:
        for _ in range(20):
            yield b" " * 1_000

    response = await web.client.post(
        "/api/v1/purchases", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


@pytest.mark.parametrize(
    "key", ["", "x" * 129, "two words", "tab\there"], ids=["empty", "long", "space", "tab"]
)
async def test_bad_idempotency_key_is_422(web: WebUnderTest, key: str) -> None:
    response = await web.client.post(
        "/api/v1/purchases", json=GOOD, headers={"Idempotency-Key": key}
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "Idempotency-Key"


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/users/ann/purchases?limit=0", "limit"),
        ("/api/v1/users/ann/purchases?limit=101", "limit"),
        ("/api/v1/users/ann/purchases?limit=abc", "limit"),
        ("/api/v1/users/ann/purchases?limit=%C2%B2", "limit"),
        ("/api/v1/users/ann/purchases?limit=" + "9" * 5000, "limit"),
        ("/api/v1/users/ann/purchases?cursor=%24%24", "cursor"),
        ("/api/v1/users/" + "u" * 65 + "/purchases", "user_id"),
        ("/api/v1/users/%20ann/purchases", "user_id"),
        ("/api/v1/users/a%00b/purchases", "user_id"),
        ("/api/v1/getAllUserBuys/-x", "userid"),
        ("/api/v1/purchases/123", "purchase_id"),
    ],
)
async def test_bad_path_and_query_parameters_are_422(
    web: WebUnderTest, path: str, field: str
) -> None:
    response = await web.client.get(path)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"][0]["field"] == field


async def test_unknown_routes_and_methods_are_json_errors(web: WebUnderTest) -> None:
    missing = await web.client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json() == {"error": {"code": "not_found", "message": "Not Found"}}
    trailing = await web.client.get("/api/v1/products/")
    assert trailing.status_code == 404, "no redirect: a JSON 404"
    wrong = await web.client.get("/api/v1/purchases")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"
    assert wrong.headers["allow"] == "POST"
    put = await web.client.put("/api/v1/products", json={})
    assert put.status_code == 405
    assert "GET" in put.headers["allow"]
