"""Consumer benchmark (not a timed test): a pre-filled topic drained into the database.

One ``shopsys serve-consumer`` process is measured in the same run as its limit (raw pymongo
``insert_many`` of the same documents into the same server) and as the naive baseline of the
original project (one ``insert_one`` per message, offsets auto-committed). Figures are
printed and written to tests/perf/results/consumer.md.

    .venv/bin/pytest tests/perf/test_consumer_benchmark.py -s

SHOPSYS_BENCH_EVENTS sets the number of events (default 50000).
"""

from __future__ import annotations

import os
import platform
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from pymongo import MongoClient

from shopsys.devtools.ports import free_port
from shopsys.devtools.roles import role_environment, serve_role
from shopsys.events import PurchasePlaced, decode_event, purchase_placed
from shopsys.kafka.admin import ensure_topics
from shopsys.models import Product
from shopsys.settings import KafkaSettings
from shopsys.store import PurchaseStore, purchase_document

pytestmark = pytest.mark.integration

EVENTS = int(os.environ.get("SHOPSYS_BENCH_EVENTS", "50000"))
NAIVE_SAMPLE = min(EVENTS, 3_000)
RESULTS = Path(__file__).parent / "results" / "consumer.md"
PRODUCTS = [Product(id=f"p-{i:03d}", name=f"Item {i}", price_cents=100 + i) for i in range(1, 7)]


@dataclass
class Bench:
    kafka: KafkaSettings
    mongo: MongoClient[dict[str, Any]]
    database: str
    mongodb_uri: str
    tmp_path: Path


@pytest.fixture
def bench(kafka_bootstrap: str, mongodb_uri: str, tmp_path: Path) -> Iterator[Bench]:
    suffix = uuid.uuid4().hex[:8]
    kafka = KafkaSettings(
        bootstrap_servers=kafka_bootstrap,
        topic=f"bench-{suffix}",
        dlq_topic=f"bench-{suffix}.dlq",
        consumer_group=f"bench-{suffix}",
        topic_partitions=12,
    )
    ensure_topics(kafka)
    mongo: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri, serverSelectionTimeoutMS=10_000)
    database = f"bench_{suffix}"
    try:
        yield Bench(kafka, mongo, database, mongodb_uri, tmp_path)
    finally:
        for name in (database, f"{database}_raw", f"{database}_naive"):
            mongo.drop_database(name)
        mongo.close()


def _fill_topic(kafka: KafkaSettings) -> list[PurchasePlaced]:
    events = [
        purchase_placed(
            purchase_id=uuid.uuid4(),
            user_id=f"user-{i % 1_000:04d}",
            username=f"User {i % 1_000}",
            product=PRODUCTS[i % len(PRODUCTS)],
            quantity=1 + i % 3,
        )
        for i in range(EVENTS)
    ]
    producer = Producer(
        {**kafka.client_config(), "linger.ms": 20, "compression.type": "lz4", "acks": "all"}
    )
    for event in events:
        while True:
            try:
                producer.produce(kafka.topic, key=event.user_id.encode(), value=event.to_json())
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(60) == 0
    return events


def _raw_insert_rate(bench: Bench, events: list[PurchasePlaced]) -> float:
    """The limit: the same documents, one unordered insert_many, same server and index."""
    database = bench.mongo[f"{bench.database}_raw"]
    PurchaseStore(database).ensure_indexes()
    documents = [purchase_document(event) for event in events]
    started = time.perf_counter()
    database["purchases"].insert_many(documents, ordered=False)
    return len(documents) / (time.perf_counter() - started)


def _naive_rate(bench: Bench) -> float:
    """The original way: poll one message, insert_one it, let the client auto-commit."""
    database = bench.mongo[f"{bench.database}_naive"]
    PurchaseStore(database).ensure_indexes()
    consumer = Consumer(
        {
            **bench.kafka.client_config(),
            "group.id": f"{bench.kafka.consumer_group}-naive",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": True,
        }
    )
    consumer.subscribe([bench.kafka.topic])
    stored, started = 0, 0.0
    try:
        while stored < NAIVE_SAMPLE:
            message = consumer.poll(1.0)
            if message is None or message.error() is not None:
                continue
            if not started:
                started = time.perf_counter()
            event = decode_event(message.value())
            database["purchases"].insert_one(purchase_document(event))
            stored += 1
        return stored / (time.perf_counter() - started)
    finally:
        consumer.close()


@dataclass
class ConsumerRun:
    rate: float
    drain_seconds: float
    peak_rss_mib: float


def _consumer_run(bench: Bench) -> ConsumerRun:
    port = free_port()
    env = {
        **role_environment(bench.kafka.bootstrap_servers, bench.mongodb_uri, "http://127.0.0.1:1"),
        "SHOPSYS_KAFKA_TOPIC": bench.kafka.topic,
        "SHOPSYS_KAFKA_DLQ_TOPIC": bench.kafka.dlq_topic,
        "SHOPSYS_KAFKA_CONSUMER_GROUP": bench.kafka.consumer_group,
        "SHOPSYS_MONGODB_DATABASE": bench.database,
        "SHOPSYS_LOG_LEVEL": "WARNING",
    }
    PurchaseStore(bench.mongo[bench.database]).ensure_indexes()
    purchases = bench.mongo[bench.database]["purchases"]
    role = serve_role("consumer", port, env, bench.tmp_path / "consumer.log")
    started = time.perf_counter()
    role.launch()
    try:
        first_at, first_count, count = 0.0, 0, 0
        deadline = time.monotonic() + 600
        while count < EVENTS:
            assert role.running, role.log_tail()
            assert time.monotonic() < deadline, f"only {count} of {EVENTS} stored"
            time.sleep(0.1)
            count = purchases.estimated_document_count()
            if count and not first_at:
                first_at, first_count = time.perf_counter(), count
        done_at = time.perf_counter()
        assert role.process is not None
        status = Path(f"/proc/{role.process.pid}/status").read_text()
        peak_kib = next(int(line.split()[1]) for line in status.splitlines() if "VmHWM" in line)
    finally:
        role.stop()
    assert purchases.count_documents({}) == EVENTS
    return ConsumerRun(
        rate=(EVENTS - first_count) / max(done_at - first_at, 1e-9),
        drain_seconds=done_at - started,
        peak_rss_mib=peak_kib / 1024,
    )


def test_consumer_throughput_against_the_limit_and_the_naive_baseline(bench: Bench) -> None:
    filled_at = time.perf_counter()
    events = _fill_topic(bench.kafka)
    fill_seconds = time.perf_counter() - filled_at
    run = _consumer_run(bench)
    raw = _raw_insert_rate(bench, events)
    naive = _naive_rate(bench)

    lines = [
        "# Consumer benchmark",
        "",
        "Written by `.venv/bin/pytest tests/perf/test_consumer_benchmark.py -s` "
        f"(SHOPSYS_BENCH_EVENTS={EVENTS}); {os.cpu_count()} CPUs, {platform.machine()}, "
        "Kafka broker and FerretDB (SQLite) as local processes on the same machine.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| events in the topic (12 partitions) | {EVENTS:,} (produced in {fill_seconds:.1f} s) |",
        f"| serve-consumer, one process, default batch 500 | {run.rate:,.0f} events/s |",
        f"| limit: raw `insert_many` of the same documents | {raw:,.0f} events/s |",
        f"| naive: `insert_one` per message, auto commit ({NAIVE_SAMPLE:,} events) "
        f"| {naive:,.0f} events/s |",
        f"| consumer / limit (goal >= 0.5) | {run.rate / raw:.2f} |",
        f"| consumer / naive (goal >= 10) | {run.rate / naive:.1f}x |",
        f"| time to drain {EVENTS:,} events, from process start | {run.drain_seconds:.1f} s |",
        f"| peak RSS of the consumer process | {run.peak_rss_mib:.0f} MiB |",
        "",
    ]
    report = "\n".join(lines)
    print("\n" + report)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report)
