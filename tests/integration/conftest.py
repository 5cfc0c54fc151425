"""Fixtures for tests against the real broker and database.

Each test gets its own topic, dead-letter topic, consumer group and database, so tests share
one Kafka broker and one MongoDB-wire server without seeing each other's data.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from shopsys.initialize import initialize
from shopsys.local_system import RoleProcess, free_port, start_roles
from shopsys.settings import KafkaSettings, MongoSettings


@dataclass
class Isolation:
    """Names that keep one test's data apart from every other test's."""

    topic: str
    dlq_topic: str
    consumer_group: str
    database: str

    def environment(self) -> dict[str, str]:
        return {
            "SHOPSYS_KAFKA_TOPIC": self.topic,
            "SHOPSYS_KAFKA_DLQ_TOPIC": self.dlq_topic,
            "SHOPSYS_KAFKA_CONSUMER_GROUP": self.consumer_group,
            "SHOPSYS_MONGODB_DATABASE": self.database,
        }


def new_isolation() -> Isolation:
    suffix = uuid.uuid4().hex[:10]
    return Isolation(
        topic=f"purchases-{suffix}",
        dlq_topic=f"purchases-{suffix}.dlq",
        consumer_group=f"shopsys-consumer-{suffix}",
        database=f"shopping_{suffix}",
    )


@pytest.fixture
def isolation() -> Isolation:
    return new_isolation()


@pytest.fixture
def kafka_settings(kafka_bootstrap: str, isolation: Isolation) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=kafka_bootstrap,
        topic=isolation.topic,
        dlq_topic=isolation.dlq_topic,
        consumer_group=isolation.consumer_group,
        topic_partitions=12,
    )


@pytest.fixture
def mongo_settings(mongodb_uri: str, isolation: Isolation) -> MongoSettings:
    return MongoSettings(uri=mongodb_uri, database=isolation.database)


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
    initialize(kafka_settings, mongo_settings, timeout=60, log=lambda _: None)


@dataclass
class RunningSystem:
    """Both roles running as ``shopsys`` subprocesses against the real servers."""

    web: RoleProcess
    consumer: RoleProcess
    web_url: str
    management_url: str
    extra: list[RoleProcess] = field(default_factory=list)

    def all_roles(self) -> list[RoleProcess]:
        return [self.web, self.consumer, *self.extra]


@pytest.fixture
def system_factory(
    kafka_bootstrap: str,
    mongodb_uri: str,
    isolation: Isolation,
    initialized: None,
    tmp_path: Path,
) -> Iterator[Any]:
    """``with system_factory(env={...}) as system:`` — stopped (and logs shown) on exit."""
    started: list[RunningSystem] = []

    @contextmanager
    def start(env: dict[str, str] | None = None) -> Iterator[RunningSystem]:
        web_port, management_port = free_port(), free_port()
        web, consumer = start_roles(
            kafka_bootstrap=kafka_bootstrap,
            mongodb_uri=mongodb_uri,
            web_port=web_port,
            management_port=management_port,
            log_dir=tmp_path / f"logs-{len(started)}",
            extra_env={**isolation.environment(), **(env or {})},
        )
        system = RunningSystem(
            web=web,
            consumer=consumer,
            web_url=f"http://127.0.0.1:{web_port}",
            management_url=f"http://127.0.0.1:{management_port}",
        )
        started.append(system)
        try:
            yield system
        finally:
            for role in reversed(system.all_roles()):
                role.stop()

    yield start
    for system in started:
        for role in system.all_roles():
            role.kill()


@pytest.fixture
def running_system(system_factory: Any) -> Iterator[RunningSystem]:
    with system_factory() as system:
        yield system
