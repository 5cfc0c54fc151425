"""The one-shot setup commands, idempotent and safe to re-run: ``shopsys init`` (topics,
indexes, the default catalog) and ``shopsys kafka-access`` (each role's Kafka user and ACLs)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from confluent_kafka import KafkaException
from pymongo.errors import PyMongoError

from shopsys.kafka.access import AccessError, Role, RoleUser, ensure_access
from shopsys.kafka.admin import ensure_topics
from shopsys.models import Product
from shopsys.settings import KafkaSettings, MongoSettings
from shopsys.store import CatalogStore, PurchaseStore, connect

# The catalog seeded into an empty ``products`` collection.
DEFAULT_PRODUCTS: tuple[Product, ...] = (
    Product(id="p-001", name="Enamel mug", price_cents=1250),
    Product(id="p-002", name="Canvas tote bag", price_cents=1800),
    Product(id="p-003", name="Kafka in Action (book)", price_cents=4499),
    Product(id="p-004", name="Mechanical keyboard", price_cents=11900),
    Product(id="p-005", name="Sticker pack", price_cents=399),
    Product(id="p-006", name="Hooded sweatshirt", price_cents=5500),
)


class InitTimeoutError(Exception):
    pass


def _attempt(
    what: str,
    step: Callable[[], None],
    *,
    deadline: float,
    timeout: float,
    log: Callable[[str], None],
) -> None:
    """``step()`` until it succeeds, with backoff, or until ``deadline`` (monotonic)."""
    delay = 1.0
    while True:
        try:
            step()
            return
        except (KafkaException, PyMongoError, AccessError) as error:
            if time.monotonic() + delay > deadline:
                raise InitTimeoutError(f"{what}: gave up after {timeout:.0f}s: {error}") from error
            log(f"{what}: not done yet ({type(error).__name__}: {error}), retry in {delay:.0f}s")
            time.sleep(delay)
            delay = min(delay * 2, 10.0)


def initialize(
    kafka: KafkaSettings,
    mongo: MongoSettings,
    *,
    timeout: float,
    log: Callable[[str], None],
    seed_catalog: bool = True,
) -> None:
    """Retry each step until it succeeds or ``timeout`` seconds have passed in total."""
    deadline = time.monotonic() + timeout

    def attempt(what: str, step: Callable[[], None]) -> None:
        _attempt(what, step, deadline=deadline, timeout=timeout, log=log)

    attempt("kafka", lambda: ensure_topics(kafka, timeout=10.0, log=log))

    def prepare_database() -> None:
        client = connect(mongo)
        try:
            database = client[mongo.database]
            PurchaseStore(database).ensure_indexes()
            if seed_catalog:
                seeded = CatalogStore(database).seed_if_empty(DEFAULT_PRODUCTS)
                if seeded:
                    log(f"seeded the catalog with {seeded} products")
        finally:
            client.close()

    attempt("mongodb", prepare_database)
    log("init complete")


def grant_kafka_access(
    admin: KafkaSettings,
    users: Mapping[Role, RoleUser],
    *,
    timeout: float,
    log: Callable[[str], None],
) -> None:
    """Each role's SCRAM credential and ACLs, set by a Kafka admin; retried until the cluster
    answers or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    _attempt(
        "kafka access",
        lambda: ensure_access(admin, users, timeout=10.0, log=log),
        deadline=deadline,
        timeout=timeout,
        log=log,
    )
    log("kafka access complete")
