"""One system (both roles as subprocesses) shared by the read-mostly web tests of this package.

Starting the roles costs a couple of seconds; the contract, schemathesis and browser tests only
add data under their own user ids, so they share one system with its own topic and database.
Tests that stop Kafka or the web process use ``system_factory`` for a system of their own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from pymongo import MongoClient

from shopsys.initialize import initialize
from shopsys.local_system import free_port, start_roles
from shopsys.settings import KafkaSettings, MongoSettings
from tests.integration.conftest import Isolation, RunningSystem, new_isolation

T = TypeVar("T")
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
    kafka = KafkaSettings(
        bootstrap_servers=kafka_bootstrap,
        topic=isolation.topic,
        dlq_topic=isolation.dlq_topic,
        consumer_group=isolation.consumer_group,
        topic_partitions=6,
    )
    initialize(
        kafka,
        MongoSettings(uri=mongodb_uri, database=isolation.database),
        timeout=60,
        log=lambda _: None,
    )
    log_dir: Path = tmp_path_factory.mktemp("web-shared-logs")
    web_port, management_port = free_port(), free_port()
    web, consumer = start_roles(
        kafka_bootstrap=kafka_bootstrap,
        mongodb_uri=mongodb_uri,
        web_port=web_port,
        management_port=management_port,
        log_dir=log_dir,
        extra_env={**isolation.environment(), **SHARED_ENV},
    )
    system = RunningSystem(
        web=web,
        consumer=consumer,
        web_url=f"http://127.0.0.1:{web_port}",
        management_url=f"http://127.0.0.1:{management_port}",
    )
    try:
        yield system
    finally:
        web.stop()
        consumer.stop()
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


def eventually(
    probe: Callable[[], T | None], *, timeout: float = 20.0, what: str = "", every: float = 0.2
) -> T:
    """Poll ``probe`` every ``every`` seconds until it returns something other than None."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what or probe}")
        time.sleep(every)


def stored(client: httpx.Client, purchase_id: str) -> dict[str, Any] | None:
    response = client.get(f"/api/v1/purchases/{purchase_id}")
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
