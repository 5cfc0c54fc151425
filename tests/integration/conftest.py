"""Fixtures for tests against the real broker and database: a system of each test's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from shopsys.devtools.provision import KafkaBroker
from shopsys.settings import KafkaSettings, MongoSettings
from tests.support.collector import OtelCollector
from tests.support.system import (
    Isolation,
    RunningSystem,
    initialize_quietly,
    new_isolation,
    start_system,
)


@pytest.fixture
def local_kafka_broker(kafka_broker: KafkaBroker | None) -> KafkaBroker:
    """The session's broker, for the tests that stop or stall it: not an external cluster."""
    if kafka_broker is None:
        pytest.skip("the Kafka cluster is external (SHOPSYS_TEST_KAFKA_BOOTSTRAP): cannot stop it")
    return kafka_broker


@pytest.fixture
def isolation() -> Isolation:
    return new_isolation()


@pytest.fixture
def kafka_settings(kafka_bootstrap: str, isolation: Isolation) -> KafkaSettings:
    return isolation.kafka_settings(kafka_bootstrap)


@pytest.fixture
def mongo_settings(mongodb_uri: str, isolation: Isolation) -> MongoSettings:
    return isolation.mongo_settings(mongodb_uri)


@pytest.fixture
def mongo_database(mongodb_uri: str, isolation: Isolation) -> Iterator[Database[Any]]:
    client: MongoClient[Any] = MongoClient(mongodb_uri, serverSelectionTimeoutMS=10_000)
    try:
        yield client[isolation.database]
        client.drop_database(isolation.database)
    finally:
        client.close()


@pytest.fixture
def initialized(kafka_settings: KafkaSettings, mongo_settings: MongoSettings) -> None:
    """Topics, indexes and the default catalog, as ``shopsys init`` makes them."""
    initialize_quietly(kafka_settings, mongo_settings)


@pytest.fixture
def system_factory(
    kafka_bootstrap: str,
    mongodb_uri: str,
    isolation: Isolation,
    initialized: None,
    tmp_path: Path,
) -> Any:
    """``with system_factory(env={...}) as system:`` — every role stopped on exit."""
    started = 0

    def start(env: dict[str, str] | None = None) -> Any:
        nonlocal started
        started += 1
        return start_system(
            kafka_bootstrap=kafka_bootstrap,
            mongodb_uri=mongodb_uri,
            isolation=isolation,
            log_dir=tmp_path / f"logs-{started}",
            env=env,
        )

    return start


@pytest.fixture
def running_system(system_factory: Any) -> Iterator[RunningSystem]:
    with system_factory() as system:
        yield system


@pytest.fixture
def otel_collector(otelcol_binary: Path, tmp_path: Path) -> Iterator[OtelCollector]:
    """A real OpenTelemetry Collector of the test's own, receiving OTLP over HTTP."""
    collector = OtelCollector(otelcol_binary, tmp_path / "otelcol")
    try:
        collector.start(timeout=30)
        yield collector
    finally:
        collector.stop()
