"""Benchmark (figures, not a pass/fail threshold): POST /api/v1/purchases on one uvicorn worker.

Measured in one run against the real broker: the purchase route (202 only after Kafka's ack)
against a baseline server (tests/perf/baseline_web.py): serve-web built from the same
settings, whose publisher returns without waiting for Kafka. Reports against issue 11's goals
the ratio of their maximum rates, both servers' p50 and p99 at half the purchase route's
maximum rate, and the web process's peak RSS; writes tests/perf/results/web.md.

    .venv/bin/pytest tests/perf/test_web_benchmark.py -s

The consumer role runs on an idle topic, so the MongoDB writes of the events do not compete
with the web process for the CPU: this measures the web role and Kafka, nothing else.
"""

from __future__ import annotations

import os
import platform
import sys
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
from shopsys.devtools.roles import RoleProcess, role_environment, serve_role
from shopsys.initialize import initialize
from shopsys.loadgen.endpoints import ENDPOINTS, Mix
from shopsys.loadgen.engine import LoadPlan, run_load
from shopsys.loadgen.stats import Summary
from shopsys.settings import KafkaSettings, MongoSettings
from tests.perf.machine import MachineLoad, peak_rss_mib

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
    baseline_url: str


@pytest.fixture(scope="module")
def bench(
    kafka_bootstrap: str, mongodb_uri: str, tmp_path_factory: pytest.TempPathFactory
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
            baseline_url=f"http://127.0.0.1:{baseline_port}",
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


def _row(name: str, summary: Summary) -> str:
    return (
        f"| {name} | {summary.requests_per_s:,.0f} | {summary.p50_ms:.1f} | {summary.p95_ms:.1f} "
        f"| {summary.p99_ms:.1f} | {summary.requests:,} | {summary.failures} |"
    )


def _met(met: bool) -> str:
    return "yes" if met else "**no**"


def test_purchase_throughput_and_latency_against_the_baseline(bench: Bench) -> None:
    machine = MachineLoad()
    _run(bench.baseline_url, PURCHASE, WARMUP_SECONDS)
    _run(bench.url, PURCHASE, WARMUP_SECONDS)
    # interleaved, so a noisy neighbour on the machine hits both alike
    runs: dict[str, list[Summary]] = {"baseline": [], "purchase": []}
    for _ in range(ROUNDS):
        runs["baseline"].append(_run(bench.baseline_url, PURCHASE, MAX_RATE_SECONDS))
        runs["purchase"].append(_run(bench.url, PURCHASE, MAX_RATE_SECONDS))
    baseline_rps = sum(s.requests_per_s for s in runs["baseline"]) / ROUNDS
    purchase_rps = sum(s.requests_per_s for s in runs["purchase"]) / ROUNDS
    ratio = purchase_rps / baseline_rps
    half_rate = purchase_rps / 2
    half = {
        "baseline": _run(bench.baseline_url, PURCHASE, HALF_RATE_SECONDS, rate=half_rate),
        "purchase": _run(bench.url, PURCHASE, HALF_RATE_SECONDS, rate=half_rate),
    }
    assert bench.web.pid is not None
    peak_rss = peak_rss_mib(bench.web.pid)

    for summary in [*runs["baseline"], *runs["purchase"], *half.values()]:
        assert summary.failures == 0, summary.statuses
        assert summary.dropped == 0
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
                _row(f"baseline (no Kafka), max rate #{i + 1}", s)
                for i, s in enumerate(runs["baseline"])
            ),
            *(
                _row(f"POST /api/v1/purchases, max rate #{i + 1}", s)
                for i, s in enumerate(runs["purchase"])
            ),
            _row(f"baseline at {half_rate:,.0f}/s", half["baseline"]),
            _row(f"POST /api/v1/purchases at {half_rate:,.0f}/s (half its max)", half["purchase"]),
            "",
        ]
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report)
    print("\n" + report)
    assert ratio > 0
