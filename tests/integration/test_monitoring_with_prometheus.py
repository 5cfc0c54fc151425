"""The chart's rules and dashboard against a real Prometheus scraping both running roles.

Prometheus scrapes web and the consumer the way the chart's ServiceMonitors would have it (job =
the Service's name, plus the namespace and pod labels the operator adds) and loads the rendered
PrometheusRule. While purchases flow, every recording rule and every dashboard query must return
series with the labels its legend uses and finite values, and every rule must evaluate without
error. A PromQL query on a metric nobody exports answers "success" with nothing in it, so an
empty answer fails here. A poison message then sets the dead-letter alert off for real.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer

from shopsys.settings import KafkaSettings
from tests.chart import chartkit
from tests.support.polling import eventually
from tests.support.prometheus import PrometheusServer, ScrapeJob, ensure_prometheus
from tests.support.system import RunningSystem

pytestmark = pytest.mark.integration

RATE_WINDOW = "30s"  # stands in for Grafana's $__rate_interval at a 1 s scrape interval
MAX_PURCHASES = 3_000  # the background load stops at this count or when the test ends


@pytest.fixture
def rendered(helm_binary: Path) -> list[dict[str, Any]]:
    args = chartkit.template_args(
        helm_binary,
        chartkit.KUBE_VERSIONS[-1],
        keda=True,
        values=[chartkit.scenario_file("monitoring-values")],
        apis=[chartkit.MONITORING_API],
    )
    proc = chartkit.run(args)
    assert proc.returncode == 0, proc.stderr
    return chartkit.parse_manifests(proc.stdout)


def _jobs(docs: list[dict[str, Any]]) -> dict[str, str]:
    """component -> job: the name of the Service each ServiceMonitor selects."""
    jobs = {}
    for monitor in chartkit.by_kind(docs, "ServiceMonitor"):
        wanted = monitor["spec"]["selector"]["matchLabels"]
        (service,) = [
            svc
            for svc in chartkit.by_kind(docs, "Service")
            if wanted.items() <= svc["metadata"]["labels"].items()
        ]
        jobs[wanted["app.kubernetes.io/component"]] = service["metadata"]["name"]
    return jobs


@pytest.fixture
def prometheus(
    rendered: list[dict[str, Any]], running_system: RunningSystem, tmp_path: Path
) -> Iterator[PrometheusServer]:
    jobs = _jobs(rendered)
    rules = tmp_path / "rules.yaml"
    rules.write_text(json.dumps(chartkit.by_kind(rendered, "PrometheusRule")[0]["spec"]))
    labels = {"namespace": chartkit.NAMESPACE}
    scrape = [
        ScrapeJob(jobs["web"], running_system.web_url, {**labels, "pod": "web-0"}),
        ScrapeJob(jobs["consumer"], running_system.management_url, {**labels, "pod": "consumer-0"}),
    ]
    server = PrometheusServer(ensure_prometheus(chartkit.cache_dir()), tmp_path, scrape, rules)
    with server.start(timeout=60):
        yield server


@pytest.fixture
def purchases_flowing(running_system: RunningSystem) -> Iterator[None]:
    stop = threading.Event()

    def buy() -> None:
        with httpx.Client(base_url=running_system.web_url, timeout=10) as client:
            for index in range(MAX_PURCHASES):
                if stop.wait(0.05):
                    return
                response = client.post(
                    "/api/v1/purchases",
                    json={"user_id": f"user-{index % 7}", "product_id": "p-001", "quantity": 1},
                )
                assert response.status_code == 202, response.text

    thread = threading.Thread(target=buy, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=15)


def _legend_labels(legend: str) -> set[str]:
    return set(re.findall(r"\{\{\s*(\w+)\s*\}\}", legend))


def _dashboard_queries(docs: list[dict[str, Any]]) -> list[tuple[str, str, set[str]]]:
    """(panel title, PromQL with Grafana's variables filled in, labels its legend uses)."""
    (config_map,) = [
        d for d in chartkit.by_kind(docs, "ConfigMap") if "-dashboard" in d["metadata"]["name"]
    ]
    dashboard = json.loads(config_map["data"]["shopsys-overview.json"])
    queries = []
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"].replace("$namespace", chartkit.NAMESPACE)
            expr = expr.replace("$__rate_interval", RATE_WINDOW)
            assert "$" not in expr, f"{panel['title']}: unknown variable in {expr}"
            legend = _legend_labels(target.get("legendFormat", ""))
            queries.append((panel["title"], expr, legend))
    return queries


def _finite_series(
    prometheus: PrometheusServer, expr: str, labels: set[str]
) -> list[dict[str, Any]] | None:
    """The query's series when there is at least one, each with `labels` and a finite value."""
    result = prometheus.query(expr)
    if not result:
        return None
    for series in result:
        if not labels <= series["metric"].keys() or not math.isfinite(float(series["value"][1])):
            return None
    return result


def test_every_rule_and_dashboard_query_returns_real_series(
    prometheus: PrometheusServer,
    purchases_flowing: None,
    rendered: list[dict[str, Any]],
) -> None:
    jobs = _jobs(rendered)
    eventually(
        lambda: (
            True
            if [t["health"] for t in prometheus.api("targets")["activeTargets"]] == ["up", "up"]
            else None
        ),
        timeout=30,
        what="both roles scraped",
    )
    spec = chartkit.by_kind(rendered, "PrometheusRule")[0]["spec"]
    records = [rule for group in spec["groups"] for rule in group["rules"] if "record" in rule]
    expected_labels = {
        "shopsys:consumer_lag_messages:sum": {"namespace", "job", "topic"},
        "shopsys:consumer_replicas:count": {"namespace", "job"},
        "shopsys:consumer_events_dead_lettered:rate5m": {"namespace", "job"},
        "shopsys:web_http_posts_5xx:ratio_rate5m": {"namespace", "job"},
    }
    assert {rule["record"] for rule in records} == expected_labels.keys()
    for name, labels in expected_labels.items():
        found = eventually(
            lambda name=name, labels=labels: _finite_series(prometheus, name, labels),
            timeout=30,
            what=lambda name=name: f"{name}: {prometheus.query(name)}",
        )
        assert {series["metric"]["namespace"] for series in found} == {chartkit.NAMESPACE}
    assert prometheus.query("shopsys:consumer_replicas:count")[0]["value"][1] == "1"
    assert prometheus.query(f'shopsys:consumer_lag_messages:sum{{job="{jobs["consumer"]}"}}')

    queries = _dashboard_queries(rendered)
    assert len(queries) >= 20
    for title, expr, labels in queries:
        eventually(
            lambda expr=expr, labels=labels: _finite_series(prometheus, expr, labels),
            timeout=30,
            what=lambda title=title, expr=expr: f"{title}: {expr} -> {prometheus.query(expr)}",
        )
    namespaces = prometheus.api(
        "label/namespace/values", **{"match[]": f'up{{job="{jobs["consumer"]}"}}'}
    )
    assert namespaces == [chartkit.NAMESPACE], "the dashboard's namespace variable finds nothing"

    def every_rule_evaluated() -> list[dict[str, Any]] | None:
        rules = [rule for group in prometheus.api("rules")["groups"] for rule in group["rules"]]
        evaluated = all(not rule["lastEvaluation"].startswith("0001") for rule in rules)
        return rules if evaluated else None

    rules = eventually(every_rule_evaluated, timeout=30, what="every rule evaluated once")
    assert len(rules) == sum(len(group["rules"]) for group in spec["groups"])  # all loaded
    assert [(r["name"], r["lastError"]) for r in rules if r["health"] != "ok"] == []


def test_a_dead_lettered_message_sets_off_the_dead_letter_alert(
    prometheus: PrometheusServer, kafka_settings: KafkaSettings
) -> None:
    def pending() -> list[str] | None:
        alerts = prometheus.api("alerts")["alerts"]
        names = [a["labels"]["alertname"] for a in alerts if a["state"] in ("pending", "firing")]
        return names or None

    # rate() sees an increase only between two scrapes: start from a scraped 0.
    eventually(
        lambda: prometheus.query("shopsys_consumer_events_dead_lettered_total == 0") or None,
        timeout=30,
        what="the dead-letter counter scraped at 0",
    )
    assert prometheus.api("alerts")["alerts"] == [], "an alert before anything went wrong"
    producer = Producer(kafka_settings.client_config())
    producer.produce(kafka_settings.topic, value=b"{not json", key=b"poison")
    assert producer.flush(10) == 0
    active = eventually(
        pending,
        timeout=30,
        what=lambda: (
            "the dead-letter alert to go pending; dead-lettered: "
            + str(prometheus.query("shopsys_consumer_events_dead_lettered_total"))
            + str(prometheus.query("shopsys:consumer_events_dead_lettered:rate5m"))
        ),
    )
    assert active == ["ShopsysDeadLettersReceived"]
