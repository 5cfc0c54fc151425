"""What the load generator sends: named endpoints and a weighted mix of them."""

from __future__ import annotations

import random
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from shopsys.models import purchase_id_for


@dataclass(frozen=True)
class RequestSpec:
    method: str
    path: str
    json: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    on_accepted: Callable[[], None] | None = None  # called on a 202


@dataclass(frozen=True)
class Context:
    """What the builders draw from: the simulated users, the catalog's product ids and the
    purchases of this run answered 202 (user id, purchase id), which cancels take."""

    users: Sequence[str]
    product_ids: Sequence[str]
    bought: deque[tuple[str, str]] = field(default_factory=lambda: deque(maxlen=10_000))


Builder = Callable[[random.Random, Context], RequestSpec]


@dataclass(frozen=True)
class Endpoint:
    name: str
    build: Builder
    needs_catalog: bool = False
    description: str = ""


def _purchase(rng: random.Random, context: Context) -> RequestSpec:
    user = rng.choice(context.users)
    body = {
        "user_id": user,
        "product_id": rng.choice(context.product_ids),
        "quantity": rng.randint(1, 3),
    }
    key = f"load-{rng.getrandbits(64):016x}"  # makes the purchase id known before the answer
    purchase_id = str(purchase_id_for(user, key))
    return RequestSpec(
        "POST",
        "/api/v1/purchases",
        json=body,
        headers={"Idempotency-Key": key},
        on_accepted=lambda: context.bought.append((user, purchase_id)),
    )


def _cancel(rng: random.Random, context: Context) -> RequestSpec:
    """Cancels the oldest purchase of this run not cancelled yet; before there is one, a
    purchase that does not exist (the consumer keeps it, waiting for that purchase)."""
    if context.bought:
        user, purchase_id = context.bought.popleft()
    else:
        user, purchase_id = rng.choice(context.users), str(uuid.UUID(int=rng.getrandbits(128)))
    return RequestSpec("POST", f"/api/v1/users/{user}/purchases/{purchase_id}/cancel")


def _buy(rng: random.Random, context: Context) -> RequestSpec:
    user = rng.choice(context.users)
    body = {"username": user.title(), "userid": user, "price": round(rng.uniform(1, 200), 2)}
    return RequestSpec("POST", "/api/v1/buy", json=body)


def _products(_rng: random.Random, _context: Context) -> RequestSpec:
    return RequestSpec("GET", "/api/v1/products")


def _history(rng: random.Random, context: Context) -> RequestSpec:
    return RequestSpec("GET", f"/api/v1/users/{rng.choice(context.users)}/purchases?limit=20")


def _compat_history(rng: random.Random, context: Context) -> RequestSpec:
    return RequestSpec("GET", f"/api/v1/getAllUserBuys/{rng.choice(context.users)}")


ENDPOINTS: dict[str, Endpoint] = {
    endpoint.name: endpoint
    for endpoint in (
        Endpoint("purchase", _purchase, True, "POST /api/v1/purchases (a catalog product)"),
        Endpoint("buy", _buy, False, "POST /api/v1/buy (compatibility, client-priced)"),
        Endpoint("cancel", _cancel, False, "POST .../purchases/{id}/cancel (this run's)"),
        Endpoint("products", _products, False, "GET /api/v1/products"),
        Endpoint("history", _history, False, "GET /api/v1/users/{id}/purchases"),
        Endpoint("compat-history", _compat_history, False, "GET /api/v1/getAllUserBuys/{id}"),
    )
}
DEFAULT_MIX = "purchase=80,products=10,history=10"


class MixError(ValueError):
    pass


@dataclass(frozen=True)
class Mix:
    endpoints: tuple[Endpoint, ...]
    weights: tuple[float, ...]

    def pick(self, rng: random.Random) -> Endpoint:
        return rng.choices(self.endpoints, self.weights)[0]

    @property
    def needs_catalog(self) -> bool:
        return any(endpoint.needs_catalog for endpoint in self.endpoints)

    def describe(self) -> str:
        total = sum(self.weights)
        return ", ".join(
            f"{endpoint.name} {weight / total:.0%}"
            for endpoint, weight in zip(self.endpoints, self.weights, strict=True)
        )


def parse_mix(text: str, known: dict[str, Endpoint] | None = None) -> Mix:
    """``"purchase=8,history=2"`` (weights, any scale) or ``"purchase"`` (one endpoint)."""
    known = ENDPOINTS if known is None else known
    endpoints: list[Endpoint] = []
    weights: list[float] = []
    for part in (piece.strip() for piece in text.split(",")):
        if not part:
            continue
        name, _, raw_weight = part.partition("=")
        name = name.strip()
        if name not in known:
            raise MixError(f"unknown endpoint {name!r}; choose from {', '.join(known)}")
        try:
            weight = float(raw_weight) if raw_weight else 1.0
        except ValueError:
            raise MixError(f"the weight of {name!r} must be a number, not {raw_weight!r}") from None
        if weight < 0 or weight != weight:
            raise MixError(f"the weight of {name!r} must not be negative")
        if name in (endpoint.name for endpoint in endpoints):
            raise MixError(f"{name!r} appears twice in the mix")
        endpoints.append(known[name])
        weights.append(weight)
    if not endpoints or sum(weights) <= 0:
        raise MixError("the mix needs at least one endpoint with a positive weight")
    return Mix(tuple(endpoints), tuple(weights))
