"""What the fault tests assert and how they add consumers: shared helpers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition
from pymongo.database import Database

from shopsys.consumer.lag import KafkaOffsetSource, partition_lag
from shopsys.devtools.roles import RoleProcess
from shopsys.settings import KafkaSettings
from tests.support.polling import eventually
from tests.support.system import RunningSystem

CANCEL_EVERY = 10  # the fault tests' streams cancel every 10th purchase once it is accepted
FAULT_PURCHASES = 3_000  # a fault test's stream: at FAULT_RATE, 15 s for its faults to land in
FAULT_RATE = 200.0  # purchases per second


def _ids(database: Database[Any], query: dict[str, Any]) -> set[str]:
    return {document["_id"] for document in database["purchases"].find(query, {"_id": 1})}


def assert_final_state(
    name: str,
    database: Database[Any],
    accepted: set[str],
    cancelled: set[str],
    timeout: float = 120.0,
    consumers: Sequence[str] = (),
) -> set[str]:
    """Every purchase answered 202 is stored once, and exactly those whose cancellation was
    answered 202 are cancelled; the stored ids. ``_id`` is the purchase id, so a purchase
    stored twice shows up as an id that was never answered 202. (The deadline is for
    correctness on a busy machine, not for speed: the benchmarks measure that.) On a
    timeout the message says what ``consumers`` (their management URLs) report."""
    purchases = database["purchases"]
    for query, expected in (({}, accepted), ({"status": "cancelled"}, cancelled)):
        eventually(
            lambda query=query, expected=expected: (
                True if purchases.count_documents(query) >= len(expected) else None
            ),
            timeout=timeout,
            every=0.25,
            what=lambda query=query, expected=expected: (
                f"{len(expected)} documents matching {query}, "
                f"{purchases.count_documents(query)} there; {consumer_states(consumers)}"
            ),
        )
    time.sleep(0.5)  # anything extra (a stray event) would land by now
    stored, found_cancelled = _ids(database, {}), _ids(database, {"status": "cancelled"})
    print(
        f"\n[{name}] accepted(202)={len(accepted)} stored={len(stored)} "
        f"cancelled: asked {len(cancelled)}, stored {len(found_cancelled)}"
    )
    assert stored == accepted, (
        f"missing {len(accepted - stored)}, unexpected {len(stored - accepted)}"
    )
    assert found_cancelled == cancelled, (
        f"cancellations missing {len(cancelled - found_cancelled)}, "
        f"unexpected {len(found_cancelled - cancelled)}"
    )
    return stored


# What a stalled consumer shows: its partitions, pauses, write failures and progress.
STATE_METRICS = (
    "assigned_partitions",
    "paused",
    "parked_partitions",
    "write_failures_total",
    "events_consumed_total",
    "lag_messages",
)


def consumer_states(management_urls: Sequence[str]) -> str:
    """Each consumer's readiness and state metrics, for a failure message."""
    states = []
    for url in management_urls:
        try:
            ready = httpx.get(f"{url}/readyz", timeout=5)
            metrics = {
                name: sum(metric_samples(url, f"shopsys_consumer_{name}").values())
                for name in STATE_METRICS
            }
        except httpx.HTTPError as error:
            states.append(f"{url}: {error!r}")
            continue
        states.append(f"{url}: readyz {ready.status_code} {ready.text[:200]} {metrics}")
    return "; ".join(states) or "no consumer asked"


def group_lag(settings: KafkaSettings) -> int | None:
    """The group's lag on the topic, summed over its partitions, as the consumer computes it;
    None while the broker does not answer."""
    source = KafkaOffsetSource.for_settings(settings, timeout=10)
    try:
        partitions = {(settings.topic, p) for p in range(settings.topic_partitions)}
        return sum(partition_lag(source, partitions).values())
    except KafkaException:
        return None
    finally:
        source.close()


def wait_caught_up(settings: KafkaSettings, timeout: float = 30.0) -> None:
    """Every offset of the topic ends up committed by the group."""
    last: list[int | None] = [None]

    def caught_up() -> bool | None:
        last[0] = group_lag(settings)
        return True if last[0] == 0 else None

    eventually(caught_up, timeout=timeout, every=0.5, what=lambda: f"lag 0 (last seen {last[0]})")


def management_url(role: RoleProcess) -> str:
    return role.ready_url.removesuffix("/readyz")


def consumer_urls(system: RunningSystem) -> list[str]:
    """The system's consumer and every role added to it, for ``assert_final_state``."""
    return [system.management_url, *(management_url(role) for role in system.extra)]


def metric_samples(base_url: str, name: str) -> dict[str, float]:
    """The samples of one metric from ``/metrics``, keyed by their label text."""
    text = httpx.get(f"{base_url}/metrics", timeout=5).text
    samples = {}
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            samples[key[len(name) :]] = float(value)
    return samples


def read_topic(settings: KafkaSettings, topic: str) -> list[Message]:
    """Every message in ``topic``, read from the beginning by a group of its own."""
    reader = Consumer(
        {
            **settings.client_config(),
            "group.id": f"reader-{uuid.uuid4().hex[:6]}",
            "enable.auto.commit": False,
        }
    )
    try:
        metadata = reader.list_topics(topic, timeout=10)
        partitions = [
            TopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.topics[topic].partitions
        ]
        ends = {tp.partition: reader.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions}
        reader.assign(partitions)
        seen: list[Message] = []
        deadline = time.monotonic() + 30
        while sum(ends.values()) > len(seen) and time.monotonic() < deadline:
            for message in reader.consume(500, timeout=0.5):
                if message.error() is None:
                    seen.append(message)
        return seen
    finally:
        reader.close()
