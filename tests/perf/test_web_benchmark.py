"""Benchmark (figures, not a pass/fail threshold): POST /api/v1/purchases on one uvicorn worker.

Measured in one run against the real broker: the purchase route (202 only after Kafka's ack)
against a baseline server (tests/perf/baseline_web.py): serve-web built from the same
settings, whose publisher returns without waiting for Kafka. Reports against the benchmark's goals
the ratio of their maximum rates, both servers' p50 and p99 at half the purchase route's
maximum rate, and the web process's peak RSS; and, to show where the gaps come from, the CPU
each process spends per request and the latency of Kafka alone at the same rate
(tests/perf/kafka_alone.py). Writes tests/perf/results/web.md.

    .venv/bin/pytest tests/perf/test_web_benchmark.py -s

The consumer role runs on an idle topic, so the MongoDB writes of the events do not compete
with the web process for the CPU: this measures the web role and Kafka, nothing else.
"""

from __future__ import annotations

import os
import platform
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvloop
from pymongo import MongoClient

from shopsys.devtools.ports import free_port
from shopsys.devtools.provision import KafkaBroker
from shopsys.devtools.roles import RoleProcess, role_environment, serve_role
from shopsys.initialize import initialize
from shopsys.loadgen.endpoints import ENDPOINTS, Mix
from shopsys.loadgen.engine import LoadPlan, run_load
from shopsys.loadgen.stats import Summary
from shopsys.settings import KafkaSettings, MongoSettings
from tests.perf.kafka_alone import Acks, produce_at_rate
from tests.perf.machine import MachineLoad, peak_rss_mib, process_cpu_seconds

pytestmark = pytest.mark.integration

RESULTS = Path(__file__).with_name("results") / "web.md"
ROOT = Path(__file__).resolve().parents[2]
CONCURRENCY = 32
WARMUP_SECONDS = 2.0
MAX_RATE_SECONDS = 6.0
ROUNDS = 2
HALF_RATE_SECONDS = 10.0
COMMAND = ".venv/bin/pytest tests/perf/test_web_benchmark.py -s"


PURCHASE = Mix((ENDPOINTS["purchase"],), (1.0,))


@dataclass
class Bench:
    web: RoleProcess
    url: str
    baseline: RoleProcess
    baseline_url: str
    kafka: KafkaSettings
    broker_pid: int | None  # None with an external broker


@dataclass(frozen=True)
class Measured:
    """One load run, and the CPU each process spent per request during it (µs)."""

    summary: Summary
    server_us: float
    broker_us: float | None
    load_us: float

    @property
    def total_us(self) -> float:
        return self.server_us + (self.broker_us or 0.0) + self.load_us


@pytest.fixture(scope="module")
def bench(
    kafka_bootstrap: str,
    kafka_broker: KafkaBroker | None,
    mongodb_uri: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Bench]:
    suffix = uuid.uuid4().hex[:10]
    database = f"bench_{suffix}"
    mongo = MongoSettings(uri=mongodb_uri, database=database)
    topics = {"bench": f"bench-{suffix}", "idle": f"bench-idle-{suffix}"}
    for topic in topics.values():
        kafka = KafkaSettings(
            bootstrap_servers=kafka_bootstrap,
            topic=topic,
            dlq_topic=f"{topic}.dlq",
            topic_partitions=12,
        )
        initialize(kafka, mongo, timeout=60, log=lambda _: None)
    logs = tmp_path_factory.mktemp("bench-logs")
    web_port, baseline_port, management_port = free_port(), free_port(), free_port()
    management_url = f"http://127.0.0.1:{management_port}"
    base = {
        **role_environment(kafka_bootstrap, mongodb_uri, management_url),
        "SHOPSYS_MONGODB_DATABASE": database,
        "SHOPSYS_LOG_LEVEL": "WARNING",
    }
    consumer = serve_role(
        "consumer",
        management_port,
        {
            **base,
            "SHOPSYS_KAFKA_TOPIC": topics["idle"],
            "SHOPSYS_KAFKA_DLQ_TOPIC": topics["idle"] + ".dlq",
            "SHOPSYS_KAFKA_CONSUMER_GROUP": f"bench-{suffix}",
        },
        logs / "consumer.log",
    ).launch()
    web_env = {
        **base,
        "SHOPSYS_KAFKA_TOPIC": topics["bench"],
        "SHOPSYS_WEB_CATALOG_CACHE_SECONDS": "300",
    }
    web = serve_role("web", web_port, web_env, logs / "web.log").launch()
    baseline = RoleProcess(
        "baseline-web",
        ["-m", "tests.perf.baseline_web"],
        {
            **web_env,
            "SHOPSYS_WEB_HOST": "127.0.0.1",
            "SHOPSYS_WEB_PORT": str(baseline_port),
            "PYTHONPATH": str(ROOT),
        },
        logs / "baseline-web.log",
        f"http://127.0.0.1:{baseline_port}/readyz",
        command=[sys.executable],
    ).launch()
    try:
        consumer.wait_ready()
        web.wait_ready()
        baseline.wait_ready()
        yield Bench(
            web=web,
            url=f"http://127.0.0.1:{web_port}",
            baseline=baseline,
            baseline_url=f"http://127.0.0.1:{baseline_port}",
            kafka=KafkaSettings(bootstrap_servers=kafka_bootstrap, topic=topics["bench"]),
            broker_pid=None if kafka_broker is None else kafka_broker.pid,
        )
    finally:
        baseline.stop()
        web.stop()
        consumer.stop()
        client: MongoClient[Any] = MongoClient(mongodb_uri, serverSelectionTimeoutMS=5_000)
        try:
            client.drop_database(database)
        finally:
            client.close()


def _run(url: str, mix: Mix, seconds: float, *, rate: float | None = None) -> Summary:
    plan = LoadPlan(
        base_url=url,
        mix=mix,
        duration=seconds,
        rate=rate,
        concurrency=CONCURRENCY,
        users=500,
        seed=7,
        user_prefix="bench",
    )
    return uvloop.run(run_load(plan))


def _measure(bench: Bench, server: RoleProcess, url: str, seconds: float) -> Measured:
    """A load run at the maximum rate against ``server`` at ``url``, with the CPU it, the
    broker and the load generator (this process) spent on it."""
    assert server.pid is not None
    pids = [server.pid] + ([bench.broker_pid] if bench.broker_pid else [])
    before = [process_cpu_seconds(pid) for pid in pids]
    load_before = time.process_time()
    summary = _run(url, PURCHASE, seconds)
    load = time.process_time() - load_before
    spent = [process_cpu_seconds(pid) - was for pid, was in zip(pids, before, strict=True)]
    per = 1e6 / max(summary.requests, 1)
    return Measured(
        summary=summary,
        server_us=spent[0] * per,
        broker_us=spent[1] * per if len(spent) > 1 else None,
        load_us=load * per,
    )


def _row(name: str, summary: Summary) -> str:
    return (
        f"| {name} | {summary.requests_per_s:,.0f} | {summary.p50_ms:.1f} | {summary.p95_ms:.1f} "
        f"| {summary.p99_ms:.1f} | {summary.requests:,} | {summary.failures} |"
    )


def _cpu_row(name: str, runs: list[Measured]) -> str:
    def mean(values: list[float]) -> float:
        return sum(values) / len(values)

    broker = [run.broker_us for run in runs if run.broker_us is not None]
    return (
        f"| {name} | {mean([r.server_us for r in runs]):.0f} "
        f"| {f'{mean(broker):.0f}' if broker else 'n/a'} | {mean([r.load_us for r in runs]):.0f} "
        f"| {mean([r.total_us for r in runs]):.0f} |"
    )


def _met(met: bool) -> str:
    return "yes" if met else "**no**"


def test_purchase_throughput_and_latency_against_the_baseline(bench: Bench) -> None:
    machine = MachineLoad()
    _run(bench.baseline_url, PURCHASE, WARMUP_SECONDS)
    _run(bench.url, PURCHASE, WARMUP_SECONDS)
    # interleaved, so a noisy neighbour on the machine hits both alike
    runs: dict[str, list[Measured]] = {"baseline": [], "purchase": []}
    for _ in range(ROUNDS):
        runs["baseline"].append(
            _measure(bench, bench.baseline, bench.baseline_url, MAX_RATE_SECONDS)
        )
        runs["purchase"].append(_measure(bench, bench.web, bench.url, MAX_RATE_SECONDS))
    baseline_rps = sum(m.summary.requests_per_s for m in runs["baseline"]) / ROUNDS
    purchase_rps = sum(m.summary.requests_per_s for m in runs["purchase"]) / ROUNDS
    ratio = purchase_rps / baseline_rps
    cpu_bound = sum(m.total_us for m in runs["baseline"]) / sum(
        m.total_us for m in runs["purchase"]
    )
    half_rate = purchase_rps / 2
    half = {
        "baseline": _run(bench.baseline_url, PURCHASE, HALF_RATE_SECONDS, rate=half_rate),
        "purchase": _run(bench.url, PURCHASE, HALF_RATE_SECONDS, rate=half_rate),
    }
    kafka_alone: Acks = produce_at_rate(bench.kafka, half_rate, HALF_RATE_SECONDS)
    assert bench.web.pid is not None
    peak_rss = peak_rss_mib(bench.web.pid)

    for summary in [*(m.summary for ms in runs.values() for m in ms), *half.values()]:
        assert summary.failures == 0, summary.statuses
        assert summary.dropped == 0
    assert kafka_alone.failed == 0
    p99_limit = 2 * half["baseline"].p99_ms
    p50_limit = half["baseline"].p50_ms + 2
    report = "\n".join(
        [
            "# serve-web benchmark",
            "",
            f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `{COMMAND}` on "
            f"{os.cpu_count()} CPUs ({platform.machine()}, Python {platform.python_version()}); "
            f"{machine.describe()}. One uvicorn worker each, the real Kafka broker (acks=all, "
            "idempotent producer) on the same machine, and the load generator (`shopsys "
            f"load`'s engine, {CONCURRENCY} keep-alive connections) too: all share the CPUs, so "
            "read the ratios rather than the absolute rates. The baseline is serve-web whose "
            "publisher returns without waiting for Kafka (tests/perf/baseline_web.py).",
            "",
            "| goal | figure | met |",
            "|---|---|---|",
            f"| purchases/s at max rate >= 0.85 of the baseline's | {ratio:.2f} "
            f"| {_met(ratio >= 0.85)} |",
            f"| p99 at half the max purchase rate <= 2x the baseline's p99 at that rate "
            f"({p99_limit:.1f} ms) | {half['purchase'].p99_ms:.1f} ms "
            f"| {_met(half['purchase'].p99_ms <= p99_limit)} |",
            f"| p50 at that rate <= the baseline's p50 + 2 ms ({p50_limit:.1f} ms) "
            f"| {half['purchase'].p50_ms:.1f} ms | {_met(half['purchase'].p50_ms <= p50_limit)} |",
            f"| web peak RSS <= 60 MiB | {peak_rss:.0f} MiB | {_met(peak_rss <= 60)} |",
            "",
            "| run | requests/s | p50 ms | p95 ms | p99 ms | requests | failures |",
            "|---|---:|---:|---:|---:|---:|---:|",
            *(
                _row(f"baseline (no Kafka), max rate #{i + 1}", m.summary)
                for i, m in enumerate(runs["baseline"])
            ),
            *(
                _row(f"POST /api/v1/purchases, max rate #{i + 1}", m.summary)
                for i, m in enumerate(runs["purchase"])
            ),
            _row(f"baseline at {half_rate:,.0f}/s", half["baseline"]),
            _row(f"POST /api/v1/purchases at {half_rate:,.0f}/s (half its max)", half["purchase"]),
            f"| Kafka alone: the web's producer settings, no HTTP, at {half_rate:,.0f}/s "
            f"| {half_rate:,.0f} | {kafka_alone.p50_ms:.1f} | {kafka_alone.p95_ms:.1f} "
            f"| {kafka_alone.p99_ms:.1f} "
            f"| {kafka_alone.sent:,} | {kafka_alone.failed} |",
            "",
            "CPU per request at the maximum rate, in µs, by process (from /proc; the load "
            "generator is the benchmark's own process). With the CPUs saturated, the maximum "
            "rates relate as the inverse of the totals: the purchase route can reach at most "
            f"**{cpu_bound:.2f}** of the baseline's rate on this machine, whatever the web "
            "process does, unless the broker and the load generator get CPUs of their own.",
            "",
            "| route | web process | Kafka broker | load generator | total |",
            "|---|---:|---:|---:|---:|",
            _cpu_row("baseline (no Kafka)", runs["baseline"]),
            _cpu_row("POST /api/v1/purchases", runs["purchase"]),
            "",
        ]
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report)
    print("\n" + report)
    assert ratio > 0
