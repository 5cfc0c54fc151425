"""``shopsys smoke``: buy through the storefront, then read the purchase back."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TypeVar

import httpx

T = TypeVar("T")


class SmokeFailedError(Exception):
    pass


def run_smoke(web_url: str, *, timeout: float, log: Callable[[str], None]) -> str:
    """Returns the purchase id once the storefront serves it back from MongoDB."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=web_url.rstrip("/"), timeout=10.0) as client:
        products = _until(deadline, lambda: _products(client), "the catalog")
        product = products[0]
        user_id = f"smoke-{uuid.uuid4().hex[:12]}"
        log(f"buying {product['id']} ({product['name']}) as {user_id}")
        response = client.post(
            "/api/v1/purchases",
            json={"user_id": user_id, "product_id": product["id"], "quantity": 1},
            headers={"Idempotency-Key": f"smoke-{user_id}"},
        )
        if response.status_code != 202:
            raise SmokeFailedError(
                f"POST /api/v1/purchases answered {response.status_code}: {response.text}"
            )
        purchase_id: str = response.json()["purchase_id"]
        log(f"accepted purchase {purchase_id}; waiting for it to be stored")
        _until(deadline, lambda: _stored(client, purchase_id), f"purchase {purchase_id}")
        log(f"purchase {purchase_id} is stored and readable: the system works")
        return purchase_id


def _products(client: httpx.Client) -> list[dict[str, str]] | None:
    response = client.get("/api/v1/products")
    if response.status_code != 200:
        return None
    products: list[dict[str, str]] = response.json()
    return products or None


def _stored(client: httpx.Client, purchase_id: str) -> bool | None:
    response = client.get(f"/api/v1/purchases/{purchase_id}")
    return True if response.status_code == 200 else None


def _until(deadline: float, probe: Callable[[], T | None], what: str) -> T:
    last_error = "no answer"
    while time.monotonic() < deadline:
        try:
            result = probe()
        except httpx.HTTPError as error:
            last_error = f"{type(error).__name__}: {error}"
            result = None
        if result is not None:
            return result
        time.sleep(0.5)
    raise SmokeFailedError(f"timed out waiting for {what} ({last_error})")
