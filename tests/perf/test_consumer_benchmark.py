"""Consumer benchmark (not a timed test): a pre-filled topic drained into the database.

One ``shopsys serve-consumer`` process is measured in the same run as its limit (raw pymongo
``insert_many`` of the same documents into the same server) and as the naive baseline of the
original project (one ``insert_one`` per message, offsets auto-committed). Figures are
printed and written to test-results/perf/consumer.md.

    .venv/bin/pytest tests/perf/test_consumer_benchmark.py -s

SHOPSYS_BENCH_EVENTS sets the number of events (default 50000).

Past 300 lines: the benchmark, its baselines and its report are one measurement.
"""

from __future__ import annotations

import os
import platform
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bson
import httpx
import orjson
import pytest
from confluent_kafka import Consumer, Producer
from prometheus_client.parser import text_string_to_metric_families
from pymongo import MongoClient

from shopsys.devtools.ports import HOST, free_port
from shopsys.devtools.roles import role_environment, serve_role
from shopsys.events import PurchasePlaced, decode_event, purchase_placed
from shopsys.kafka.admin import ensure_topics
from shopsys.models import Product
from shopsys.settings import ConsumerSettings, KafkaSettings
from shopsys.store import PurchaseStore, purchase_document
from tests.perf.machine import MachineLoad, peak_rss_mib, process_cpu_seconds
from tests.results import result_file

pytestmark = [pytest.mark.integration, pytest.mark.benchmark]

EVENTS = int(os.environ.get("SHOPSYS_BENCH_EVENTS", "50000"))
NAIVE_SAMPLE = min(EVENTS, 3_000)
STAGE_SAMPLE = min(EVENTS, 20_000)
BATCH = ConsumerSettings().batch_size
COMMAND = ".venv/bin/pytest tests/perf/test_consumer_benchmark.py -s"
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
    """The limit: the same documents into the same server with the same index, by unordered
    ``insert_many`` calls of the consumer's batch size, one after the other."""
    database = bench.mongo[f"{bench.database}_raw"]
    PurchaseStore(database).ensure_indexes()
    documents = [purchase_document(event) for event in events]
    started = time.perf_counter()
    for start in range(0, len(documents), BATCH):
        database["purchases"].insert_many(documents[start : start + BATCH], ordered=False)
    return len(documents) / (time.perf_counter() - started)


def _stage_costs(events: list[PurchasePlaced]) -> dict[str, float]:
    """CPU microseconds per event of each step the consumer takes, timed in this process on
    the same events: the rest of its CPU is the Kafka client, the loop and the driver."""
    values = [event.to_json() for event in events]
    costs: dict[str, float] = {}
    started = time.process_time()
    for value in values:
        orjson.loads(value)
    costs["JSON parsing (orjson, for scale)"] = time.process_time() - started
    started = time.process_time()
    decoded = [decode_event(value) for value in values]
    costs["decode: JSON parsed and validated in one pydantic step"] = time.process_time() - started
    started = time.process_time()
    documents = [purchase_document(event) for event in decoded if isinstance(event, PurchasePlaced)]
    costs["document building"] = time.process_time() - started
    started = time.process_time()
    for document in documents:
        bson.encode(document)
    costs["BSON encoding"] = time.process_time() - started
    return {step: seconds / len(values) * 1e6 for step, seconds in costs.items()}


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
    writing_seconds: float  # the consumer's writes, all batches
    batches: int
    peak_rss_mib: float
    cpu_us_per_event: float


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
    pid = role.launch().pid
    assert pid is not None
    try:
        first_at, first_count, first_cpu, count = 0.0, 0, 0.0, 0
        samples: dict[str, float] = {}
        deadline = time.monotonic() + 600
        while count < EVENTS:
            assert role.running, role.log_tail()
            assert time.monotonic() < deadline, f"only {count} of {EVENTS} stored"
            time.sleep(0.1)
            samples = _samples(port)
            count = int(samples.get("shopsys_consumer_events_written_total", 0))
            if count and not first_at:
                first_at, first_count = time.perf_counter(), count
                first_cpu = process_cpu_seconds(pid)
        done_at = time.perf_counter()
        cpu = process_cpu_seconds(pid) - first_cpu
        peak = peak_rss_mib(pid)
    finally:
        role.stop()
    assert purchases.count_documents({}) == EVENTS
    return ConsumerRun(
        rate=(EVENTS - first_count) / max(done_at - first_at, 1e-9),
        drain_seconds=done_at - started,
        writing_seconds=samples["shopsys_consumer_write_duration_seconds_sum"],
        batches=int(samples["shopsys_consumer_batch_size_count"]),
        peak_rss_mib=peak,
        cpu_us_per_event=cpu / max(EVENTS - first_count, 1) * 1e6,
    )


def _samples(port: int) -> dict[str, float]:
    """The consumer's own metrics, by sample name (labels summed). Progress is read from them,
    not by counting documents: a count 10 times a second loads the database (FerretDB counts
    by reading the collection), which the raw baseline does not have to share."""
    try:
        text = httpx.get(f"http://{HOST}:{port}/metrics", timeout=5).text
    except httpx.TransportError:
        return {}  # not serving yet
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[sample.name] = samples.get(sample.name, 0.0) + sample.value
    return samples


def test_consumer_throughput_against_the_limit_and_the_naive_baseline(bench: Bench) -> None:
    machine = MachineLoad()
    filled_at = time.perf_counter()
    events = _fill_topic(bench.kafka)
    fill_seconds = time.perf_counter() - filled_at
    run = _consumer_run(bench)
    raw = _raw_insert_rate(bench, events)
    naive = _naive_rate(bench)
    stages = _stage_costs(events[:STAGE_SAMPLE])
    measured = sum(cost for step, cost in stages.items() if not step.startswith("JSON"))
    ratio = run.rate / raw

    lines = [
        "# Consumer benchmark",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `{COMMAND}` "
        f"(SHOPSYS_BENCH_EVENTS={EVENTS}) on {os.cpu_count()} CPUs ({platform.machine()}); "
        "the Kafka broker and FerretDB (SQLite) run as local processes on the same machine; "
        f"{machine.describe()}.",
        "",
        "| goal | figure | met |",
        "|---|---|---|",
        f"| events/s into the database >= 0.75 of raw `insert_many` | {ratio:.2f} "
        f"| {_met(ratio >= 0.75)} |",
        f"| consumer peak RSS <= 80 MiB | {run.peak_rss_mib:.0f} MiB "
        f"| {_met(run.peak_rss_mib <= 80)} |",
        f"| consumer CPU per event, while draining, <= 25 µs | {run.cpu_us_per_event:.0f} µs "
        f"| {_met(run.cpu_us_per_event <= 25)} |",
        "",
        "| measure | value |",
        "|---|---|",
        f"| events in the topic (12 partitions) | {EVENTS:,} (produced in {fill_seconds:.1f} s) |",
        f"| serve-consumer, one process, batches of {BATCH} | {run.rate:,.0f} events/s |",
        f"| limit: raw unordered `insert_many` of the same documents, {BATCH} a call "
        f"| {raw:,.0f} events/s |",
        f"| naive: `insert_one` per message, auto commit ({NAIVE_SAMPLE:,} events) "
        f"| {naive:,.0f} events/s (serve-consumer does {run.rate / naive:.1f}x that) |",
        f"| time to drain {EVENTS:,} events, from process start | {run.drain_seconds:.1f} s |",
        f"| consumer CPU per event, while draining | {run.cpu_us_per_event:.0f} µs |",
        f"| batches written | {run.batches:,}, {EVENTS / max(run.batches, 1):,.0f} events each "
        "on average |",
        f"| one write of a batch: consumer / raw call "
        f"| {run.writing_seconds / max(run.batches, 1) * 1000:.0f} ms "
        f"/ {BATCH / raw * 1000:.0f} ms |",
        f"| consumer's writes, all batches | {run.writing_seconds:.1f} s of the "
        f"{EVENTS / run.rate:.1f} s drain |",
        "",
        f"Where the consumer's CPU goes, per event (steps timed in the benchmark's process on "
        f"{STAGE_SAMPLE:,} of the events; the rest is the Kafka client, the loop, the driver's "
        "socket work and the metrics):",
        "",
        "| step | µs per event |",
        "|---|---:|",
        *(f"| {step} | {cost:.1f} |" for step, cost in stages.items()),
        f"| the rest | {max(run.cpu_us_per_event - measured, 0):.1f} |",
        "",
    ]
    report = "\n".join(lines)
    print("\n" + report)
    result_file("perf", "consumer.md").write_text(report)
    assert run.rate > 0


def _met(met: bool) -> str:
    return "yes" if met else "**no**"
