"""``shopsys init``: topics, indexes and the default catalog — idempotent, safe to re-run."""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import KafkaException
from pymongo.errors import PyMongoError

from shopsys.catalog import DEFAULT_PRODUCTS
from shopsys.kafka.admin import ensure_topics
from shopsys.settings import KafkaSettings, MongoSettings
from shopsys.store import CatalogStore, PurchaseStore, connect


class InitTimeoutError(Exception):
    pass


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
        delay = 1.0
        while True:
            try:
                step()
                return
            except (KafkaException, PyMongoError) as error:
                if time.monotonic() + delay > deadline:
                    raise InitTimeoutError(
                        f"{what}: gave up after {timeout:.0f}s: {error}"
                    ) from error
                log(f"{what}: not reachable yet ({type(error).__name__}), retry in {delay:.0f}s")
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

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
