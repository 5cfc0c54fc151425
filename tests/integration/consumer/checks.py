"""What the fault tests assert and how they add consumers: shared helpers."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import KafkaException
from pymongo.database import Database

from shopsys.consumer.lag import KafkaOffsetSource, partition_lag
from shopsys.local_system import RoleProcess, free_port, role_environment
from shopsys.settings import KafkaSettings
from tests.integration.conftest import Isolation, RunningSystem

CANCEL_EVERY = 10  # the fault tests' streams cancel every 10th purchase once it is accepted


@dataclass(frozen=True)
class Stored:
    ids: set[str]
    count: int

    def describe(self, accepted: set[str]) -> str:
        return (
            f"accepted(202)={len(accepted)} stored={self.count} distinct={len(self.ids)} "
            f"missing={len(accepted - self.ids)} unexpected={len(self.ids - accepted)}"
        )


def wait_until_stored(database: Database[Any], expected: int, timeout: float = 60.0) -> Stored:
    """Wait until ``expected`` purchases are stored (or time out), then read them all."""
    purchases = database["purchases"]
    deadline = time.monotonic() + timeout
    while purchases.count_documents({}) < expected and time.monotonic() < deadline:
        time.sleep(0.25)
    time.sleep(0.5)  # anything extra (a duplicate, a stray event) would land by now
    ids = [document["_id"] for document in purchases.find({}, {"_id": 1})]
    return Stored(ids=set(ids), count=len(ids))  # one read: inserts may still be landing


def assert_exactly_once(name: str, accepted: set[str], stored: Stored) -> None:
    print(f"\n[{name}] {stored.describe(accepted)}")
    assert stored.count == len(stored.ids), "a purchase is stored twice"
    assert stored.ids == accepted, stored.describe(accepted)


def assert_cancelled_exactly(
    name: str, database: Database[Any], cancelled: set[str], timeout: float = 60.0
) -> None:
    """The purchases whose cancellation was answered 202 end cancelled, and no other."""
    purchases = database["purchases"]
    query = {"status": "cancelled"}
    deadline = time.monotonic() + timeout
    while purchases.count_documents(query) < len(cancelled) and time.monotonic() < deadline:
        time.sleep(0.25)
    time.sleep(0.5)  # a stray cancellation would land by now
    found = {document["_id"] for document in purchases.find(query, {"_id": 1})}
    print(f"\n[{name}] cancelled: asked {len(cancelled)}, stored {len(found)}")
    assert found == cancelled, (
        f"missing {len(cancelled - found)}, unexpected {len(found - cancelled)}"
    )


def group_lag(settings: KafkaSettings) -> int:
    """The group's lag on the topic, summed over its partitions, as the consumer computes it."""
    source = KafkaOffsetSource(settings, timeout=10)
    try:
        partitions = {(settings.topic, p) for p in range(settings.topic_partitions)}
        return sum(partition_lag(source, partitions).values())
    finally:
        source.close()


def wait_caught_up(settings: KafkaSettings, timeout: float = 30.0) -> None:
    """Every offset of the topic ends up committed by the group."""
    deadline = time.monotonic() + timeout
    lag = -1
    while time.monotonic() < deadline:
        with contextlib.suppress(KafkaException):
            lag = group_lag(settings)
            if lag == 0:
                return
        time.sleep(0.5)
    raise AssertionError(f"the consumer group still lags by {lag} messages")


def add_consumer(
    system: RunningSystem,
    isolation: Isolation,
    *,
    kafka_bootstrap: str,
    mongodb_uri: str,
    log_dir: Path,
    name: str,
) -> RoleProcess:
    """One more ``shopsys serve-consumer`` in the same group; stopped with the system."""
    port = free_port()
    env = {
        **role_environment(kafka_bootstrap, mongodb_uri, system.management_url),
        **isolation.environment(),
    }
    role = RoleProcess(
        name,
        ["serve-consumer", "--host", "127.0.0.1", "--port", str(port)],
        env,
        log_dir / f"{name}.log",
        f"http://127.0.0.1:{port}/readyz",
    )
    system.extra.append(role)
    return role.start()


def management_url(role: RoleProcess) -> str:
    return role.ready_url.removesuffix("/readyz")


def metric_samples(base_url: str, name: str) -> dict[str, float]:
    """The samples of one metric from ``/metrics``, keyed by their label text."""
    text = httpx.get(f"{base_url}/metrics", timeout=5).text
    samples = {}
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            samples[key[len(name) :]] = float(value)
    return samples
