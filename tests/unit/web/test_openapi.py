"""The OpenAPI document: every route is in it, and real responses match it."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from starlette.routing import Route

from shopsys.web.app import create_app
from shopsys.web.bodies import BuyRequest, PurchaseRequest
from shopsys.web.services import WebMetrics, WebServices
from tests.unit.web.conftest import WebUnderTest

pytestmark = pytest.mark.anyio


def _never(_metrics: WebMetrics) -> WebServices:
    raise AssertionError("the document is built without services")


def openapi_document() -> dict[str, Any]:
    """The document the app serves at /api/v1/openapi.json, from an app never started."""
    document: dict[str, Any] = create_app(_never).state.openapi
    return document


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    document = openapi_document()
    registry: Registry[Any] = Registry().with_resource(
        "urn:openapi", Resource.from_contents(document, default_specification=DRAFT202012)
    )
    rebased = _rebase(schema)
    return Draft202012Validator(rebased, registry=registry)


def _rebase(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: ("urn:openapi" + value if key == "$ref" else _rebase(value))
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rebase(item) for item in node]
    return node


def _response_schema(path: str, method: str, status: int) -> dict[str, Any]:
    operation = openapi_document()["paths"][path][method]
    schema: dict[str, Any] = operation["responses"][str(status)]["content"]["application/json"][
        "schema"
    ]
    return schema


def test_every_route_is_documented_and_nothing_else() -> None:
    app = create_app(_never)
    served = {
        (route.path, method.lower())
        for route in app.routes
        if isinstance(route, Route)
        for method in (route.methods or ())
        if method != "HEAD"
    }
    documented = {
        (path, method) for path, item in openapi_document()["paths"].items() for method in item
    }
    assert served == documented


def test_request_schemas_are_the_validating_models() -> None:
    schemas = openapi_document()["components"]["schemas"]
    for model in (PurchaseRequest, BuyRequest):
        generated = model.model_json_schema()
        assert schemas[model.__name__]["properties"] == generated["properties"]
        assert schemas[model.__name__]["additionalProperties"] is False


async def test_real_responses_conform(web: WebUnderTest) -> None:
    accepted = await web.client.post(
        "/api/v1/purchases", json={"user_id": "ann", "product_id": "p-001", "username": "Ann"}
    )
    bought = await web.client.post(
        "/api/v1/buy", json={"userid": "ann", "username": "Ann", "price": 2}
    )
    purchase_id = accepted.json()["purchase_id"]
    checks = [
        (accepted, "/api/v1/purchases", "post"),
        (bought, "/api/v1/buy", "post"),
        (await web.client.post("/api/v1/buy", json={}), "/api/v1/buy", "post"),
        (
            await web.client.post("/api/v1/purchases", json={"user_id": "a", "product_id": "x"}),
            "/api/v1/purchases",
            "post",
        ),
        (await web.client.get("/api/v1/products"), "/api/v1/products", "get"),
        (
            await web.client.get("/api/v1/users/ann/purchases"),
            "/api/v1/users/{user_id}/purchases",
            "get",
        ),
        (
            await web.client.get("/api/v1/getAllUserBuys/ann"),
            "/api/v1/getAllUserBuys/{userid}",
            "get",
        ),
        (
            await web.client.get(f"/api/v1/purchases/{purchase_id}"),
            "/api/v1/purchases/{purchase_id}",
            "get",
        ),
        (await web.client.get("/api/v1/purchases/x"), "/api/v1/purchases/{purchase_id}", "get"),
        (await web.client.get("/healthz"), "/healthz", "get"),
        (await web.client.get("/readyz"), "/readyz", "get"),
    ]
    for response, path, method in checks:
        schema = _response_schema(path, method, response.status_code)
        errors = list(_validator(schema).iter_errors(response.json()))
        assert errors == [], f"{method} {path} {response.status_code}: {errors[0].message}"


async def test_openapi_is_served(web: WebUnderTest) -> None:
    response = await web.client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.json() == openapi_document()
    assert response.json()["openapi"] == "3.1.0"
