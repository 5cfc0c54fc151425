"""Reading the system's state back through its own public API."""

from __future__ import annotations

from typing import Any

import httpx


def stored_purchase(client: httpx.Client, purchase_id: str) -> dict[str, Any] | None:
    """The purchase as ``GET /api/v1/purchases/{id}`` shows it; None while it is not stored."""
    response = client.get(f"/api/v1/purchases/{purchase_id}")
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
