"""One system (both roles as subprocesses) shared by the read-mostly web tests of this package.

Starting the roles costs a couple of seconds; the contract, schemathesis and browser tests only
add data under their own user ids, so they share one system with its own topic and database.
Tests that stop Kafka or the web process use ``system_factory`` for a system of their own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from tests.support.system import (
    Isolation,
    RunningSystem,
    initialize_quietly,
    new_isolation,
    start_system,
)

SHARED_ENV = {
    "SHOPSYS_WEB_PUBLISH_TIMEOUT_SECONDS": "3",
    "SHOPSYS_WEB_CATALOG_CACHE_SECONDS": "2",
}


@pytest.fixture(scope="package")
def shared_isolation() -> Isolation:
    return new_isolation()


@pytest.fixture(scope="package")
def shared_system(
    kafka_bootstrap: str,
    mongodb_uri: str,
    shared_isolation: Isolation,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningSystem]:
    isolation = shared_isolation
    initialize_quietly(
        isolation.kafka_settings(kafka_bootstrap, partitions=6),
        isolation.mongo_settings(mongodb_uri),
    )
    try:
        with start_system(
            kafka_bootstrap=kafka_bootstrap,
            mongodb_uri=mongodb_uri,
            isolation=isolation,
            log_dir=tmp_path_factory.mktemp("web-shared-logs"),
            env=SHARED_ENV,
        ) as system:
            yield system
    finally:
        client: MongoClient[Any] = MongoClient(mongodb_uri, serverSelectionTimeoutMS=5_000)
        try:
            client.drop_database(isolation.database)
        finally:
            client.close()


@pytest.fixture
def web_client(shared_system: RunningSystem) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shared_system.web_url, timeout=30) as client:
        yield client


@pytest.fixture
def unique_user() -> str:
    return f"it-{uuid.uuid4().hex[:12]}"
