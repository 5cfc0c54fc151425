"""One way to start the system under test: both roles as ``shopsys`` subprocesses.

Each system gets its own topic, dead-letter topic, consumer group and database (its
``Isolation``), so tests share one Kafka broker and one MongoDB-wire server without seeing
each other's data.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from shopsys.devtools.ports import HOST, free_port
from shopsys.devtools.roles import RoleProcess, role_environment, serve_role, start_roles
from shopsys.initialize import initialize
from shopsys.settings import KafkaSettings, MongoSettings


@dataclass(frozen=True)
class Isolation:
    """Names that keep one system's data apart from every other's."""

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

    def kafka_settings(self, bootstrap_servers: str, partitions: int = 12) -> KafkaSettings:
        return KafkaSettings(
            bootstrap_servers=bootstrap_servers,
            topic=self.topic,
            dlq_topic=self.dlq_topic,
            consumer_group=self.consumer_group,
            topic_partitions=partitions,
        )

    def mongo_settings(self, uri: str) -> MongoSettings:
        return MongoSettings(uri=uri, database=self.database)


def new_isolation() -> Isolation:
    suffix = uuid.uuid4().hex[:10]
    return Isolation(
        topic=f"purchases-{suffix}",
        dlq_topic=f"purchases-{suffix}.dlq",
        consumer_group=f"shopsys-consumer-{suffix}",
        database=f"shopping_{suffix}",
    )


def initialize_quietly(kafka: KafkaSettings, mongo: MongoSettings) -> None:
    """Topics, indexes and the default catalog, as ``shopsys init`` makes them."""
    initialize(kafka, mongo, timeout=60, log=lambda _: None)


@dataclass
class RunningSystem:
    """Both roles running as ``shopsys`` subprocesses against the real servers."""

    web: RoleProcess
    consumer: RoleProcess
    web_url: str
    management_url: str
    extra: list[RoleProcess] = field(default_factory=list)
    # what a role added to this system runs with; None when its roles were started by hand
    role_env: Mapping[str, str] | None = None
    log_dir: Path | None = None

    def all_roles(self) -> list[RoleProcess]:
        return [self.web, self.consumer, *self.extra]

    def add_role(self, role: Literal["web", "consumer"], name: str) -> RoleProcess:
        """One more ``shopsys serve-web`` or ``serve-consumer`` on this system's topic, group
        and database, started now (a web learns the topic's partitions as they are now);
        stopped with the system."""
        if self.role_env is None or self.log_dir is None:
            raise AssertionError("this system's roles were started by hand: add more the same way")
        process = serve_role(
            role, free_port(), self.role_env, self.log_dir / f"{name}.log", name=name
        )
        self.extra.append(process)
        return process.start()


@contextmanager
def start_system(
    *,
    kafka_bootstrap: str,
    mongodb_uri: str,
    isolation: Isolation,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
) -> Iterator[RunningSystem]:
    """Start serve-consumer and serve-web (topics already made); stop every role on exit."""
    web_port, management_port = free_port(), free_port()
    web, consumer = start_roles(
        kafka_bootstrap=kafka_bootstrap,
        mongodb_uri=mongodb_uri,
        web_port=web_port,
        management_port=management_port,
        log_dir=log_dir,
        extra_env={**isolation.environment(), **(env or {})},
    )
    system = RunningSystem(
        web=web,
        consumer=consumer,
        web_url=f"http://{HOST}:{web_port}",
        management_url=f"http://{HOST}:{management_port}",
        role_env={
            **role_environment(kafka_bootstrap, mongodb_uri, f"http://{HOST}:{management_port}"),
            **isolation.environment(),
        },
        log_dir=log_dir,
    )
    try:
        yield system
    finally:
        for role in reversed(system.all_roles()):
            role.stop()
