"""The chart's monitoring objects: ServiceMonitors, the PrometheusRule and the Grafana dashboard.

Rendered with and without the Prometheus Operator's API, validated against the CRDs of the
pinned prometheus-operator module, the rules checked by Prometheus' own `promtool`, and every
alert unit-tested by `promtool test rules` on series that should and should not fire it. That
every expression returns real series from the running roles is
tests/integration/test_monitoring_with_prometheus.py.

Past 300 lines: every rule, alert and dashboard query, over the same renders.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.chart import chartkit
from tests.chart.chartkit import KUBE_VERSIONS, MONITORING_API, NAMESPACE
from tests.support.prometheus import PrometheusTools, ensure_prometheus

MONITORING_KINDS = ("ServiceMonitor", "PrometheusRule")
SCENARIO = chartkit.scenario_file("monitoring-values")
WEB_JOB = "shopping-system-web"
CONSUMER_JOB = "shopping-system-management"
ALERTS = {
    "ShopsysConsumerLagGrowing",
    "ShopsysConsumerAtMaxReplicasLagGrowing",
    "ShopsysDeadLettersReceived",
    "ShopsysConsumerNotReady",
    "ShopsysConsumerWritesFailing",
    "ShopsysConsumerPartitionParked",
    "ShopsysWebServerErrors",
    "ShopsysWebKafkaUnreachable",
}


def _render(
    helm: Path,
    *,
    operator: bool,
    kube_version: str = KUBE_VERSIONS[-1],
    values: tuple[Path, ...] = (SCENARIO,),
    sets: tuple[str, ...] = (),
) -> list[dict[str, Any]]:
    args = chartkit.template_args(
        helm,
        kube_version,
        keda=True,
        values=values,
        sets=sets,
        apis=[MONITORING_API] if operator else [],
    )
    proc = chartkit.run(args)
    assert proc.returncode == 0, proc.stderr
    return chartkit.parse_manifests(proc.stdout)


@pytest.fixture(scope="module")
def monitored(helm: Path) -> list[dict[str, Any]]:
    return _render(helm, operator=True)


@pytest.fixture(scope="module")
def operator_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    return chartkit.crd_schemas(chartkit.prometheus_operator_crd_files())


@pytest.fixture(scope="module")
def prometheus_tools() -> PrometheusTools:
    return ensure_prometheus(chartkit.cache_dir())


def _kinds(docs: list[dict[str, Any]]) -> list[str]:
    return sorted(doc["kind"] for doc in docs)


def _dashboards(docs: list[dict[str, Any]]) -> list[Mapping[str, Any]]:
    return [
        doc
        for doc in chartkit.by_kind(docs, "ConfigMap")
        if "-dashboard" in doc["metadata"]["name"]
    ]


def test_monitoring_is_off_by_default(helm: Path) -> None:
    docs = _render(helm, operator=True, values=())
    assert not [doc for doc in docs if doc["kind"] in MONITORING_KINDS]
    assert _dashboards(docs) == []


def test_without_the_operator_api_only_the_dashboard_is_rendered(helm: Path) -> None:
    docs = _render(helm, operator=False)
    assert not [doc for doc in docs if doc["kind"] in MONITORING_KINDS]
    assert len(_dashboards(docs)) == 1


def test_with_the_operator_api_every_monitoring_object_is_rendered(
    monitored: list[dict[str, Any]],
) -> None:
    found = [doc for doc in monitored if doc["kind"] in MONITORING_KINDS]
    assert _kinds(found) == ["PrometheusRule", "ServiceMonitor", "ServiceMonitor"]
    for doc in found:
        assert doc["metadata"]["labels"]["release"] == "kube-prometheus-stack", doc["kind"]
    dashboard = _dashboards(monitored)[0]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert dashboard["metadata"]["annotations"] == {"grafana_folder": "shopsys"}


def test_each_service_monitor_scrapes_its_role_through_a_named_service_port(
    monitored: list[dict[str, Any]],
) -> None:
    """job = the Service's name, which is what the rules and the dashboard select on."""
    jobs = {}
    for monitor in chartkit.by_kind(monitored, "ServiceMonitor"):
        wanted = monitor["spec"]["selector"]["matchLabels"]
        services = [
            svc
            for svc in chartkit.by_kind(monitored, "Service")
            if wanted.items() <= svc["metadata"]["labels"].items()
        ]
        assert len(services) == 1, f"{monitor['metadata']['name']} selects {len(services)}"
        service = services[0]
        assert monitor["spec"]["namespaceSelector"]["matchNames"] == [NAMESPACE]
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["path"] == "/metrics"
        assert endpoint["interval"] == "15s"
        assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
        jobs[service["metadata"]["labels"]["app.kubernetes.io/component"]] = service["metadata"][
            "name"
        ]
    assert jobs == {"web": WEB_JOB, "consumer": CONSUMER_JOB}


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_monitoring_objects_match_the_prometheus_operator_crds(
    helm: Path, kube_version: str, operator_schemas: dict[tuple[str, str], dict[str, Any]]
) -> None:
    docs = _render(helm, operator=True, kube_version=kube_version)
    checked = 0
    for doc in docs:
        if doc["kind"] not in MONITORING_KINDS:
            continue
        schema = operator_schemas[(doc["apiVersion"], doc["kind"])]
        errors = [
            f"{doc['kind']}/{doc['metadata']['name']}: {error.json_path}: {error.message}"
            for error in jsonschema.Draft7Validator(schema).iter_errors(doc)
        ]
        assert errors == []
        checked += 1
    assert checked == 3


def test_the_operator_schemas_reject_what_the_api_server_would(
    monitored: list[dict[str, Any]], operator_schemas: dict[tuple[str, str], dict[str, Any]]
) -> None:
    monitor = json.loads(json.dumps(chartkit.by_kind(monitored, "ServiceMonitor")[0]))
    schema = operator_schemas[(MONITORING_API, "ServiceMonitor")]
    monitor["spec"]["endpoints"][0]["intervall"] = "15s"
    assert list(jsonschema.Draft7Validator(schema).iter_errors(monitor)), "unknown field accepted"
    rule = json.loads(json.dumps(chartkit.by_kind(monitored, "PrometheusRule")[0]))
    del rule["spec"]["groups"][0]["name"]
    schema = operator_schemas[(MONITORING_API, "PrometheusRule")]
    assert list(jsonschema.Draft7Validator(schema).iter_errors(rule)), "nameless group accepted"


def _rules(docs: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = chartkit.by_kind(docs, "PrometheusRule")[0]["spec"]
    return spec


def test_the_rules_pass_promtool_check_rules(
    monitored: list[dict[str, Any]], prometheus_tools: PrometheusTools, tmp_path: Path
) -> None:
    rules = _rules(monitored)
    assert {rule.get("alert") for group in rules["groups"] for rule in group["rules"]} - {
        None
    } == ALERTS
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(rules))
    proc = chartkit.run([prometheus_tools.promtool, "check", "rules", path])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    count = sum(len(group["rules"]) for group in rules["groups"])
    assert f"SUCCESS: {count} rules found" in proc.stdout, proc.stdout


def test_disabled_alerts_are_left_out(helm: Path) -> None:
    docs = _render(
        helm,
        operator=True,
        sets=("monitoring.prometheusRule.disabledAlerts={ShopsysDeadLettersReceived}",),
    )
    alerts = {rule.get("alert") for group in _rules(docs)["groups"] for rule in group["rules"]}
    assert "ShopsysDeadLettersReceived" not in alerts
    assert ALERTS - {"ShopsysDeadLettersReceived"} <= alerts


def test_the_dashboard_is_grafana_json_whose_queries_select_the_release(
    monitored: list[dict[str, Any]],
) -> None:
    dashboard = json.loads(_dashboards(monitored)[0]["data"]["shopsys-overview.json"])
    assert dashboard["uid"].startswith("shopsys-")
    assert len(dashboard["uid"]) <= 40
    assert "__" not in json.dumps(dashboard).replace("$__rate_interval", ""), "placeholder left"
    names = [var["name"] for var in dashboard["templating"]["list"]]
    assert names == ["datasource", "namespace"]
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    assert len(panels) >= 15
    for panel in panels:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            expr = target["expr"]
            assert f'job="{WEB_JOB}"' in expr or f'job="{CONSUMER_JOB}"' in expr, expr
            assert 'namespace="$namespace"' in expr, expr


def _series(name: str, values: str, **labels: str) -> dict[str, str]:
    selector = ",".join(f'{key}="{value}"' for key, value in labels.items())
    return {"series": f"{name}{{{selector}}}", "values": values}


def _consumer(name: str, values: str, **labels: str) -> dict[str, str]:
    return _series(name, values, job=CONSUMER_JOB, namespace=NAMESPACE, **labels)


def _web(name: str, values: str, **labels: str) -> dict[str, str]:
    return _series(name, values, job=WEB_JOB, namespace=NAMESPACE, **labels)


def _fires(alert: str, at: str, **labels: str) -> dict[str, Any]:
    return {"eval_time": at, "alertname": alert, "exp_alerts": [{"exp_labels": labels}]}


def _silent(alert: str, at: str) -> dict[str, Any]:
    return {"eval_time": at, "alertname": alert, "exp_alerts": []}


def _case(series: list[dict[str, str]], checks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"interval": "1m", "input_series": series, "alert_rule_test": checks}


def _alert_cases() -> list[dict[str, Any]]:
    release = {"namespace": NAMESPACE, "team": "shop"}
    consumer = {**release, "job": CONSUMER_JOB}
    web = {**release, "job": WEB_JOB}
    lag = "shopsys_consumer_lag_messages"
    partitions = "shopsys_consumer_assigned_partitions"
    requests = "shopsys_web_http_requests_total"
    growing = [_consumer(lag, "0+100x40", topic="purchases", partition="0", pod="c-0")]
    warn, crit = {"severity": "warning"}, {"severity": "critical"}
    return [
        # One consumer of three allowed, lag growing by 100 a minute: over minLag (1000) after
        # 10 min, for 10 min more -> warning; not the at-max alert.
        _case(
            [*growing, _consumer(partitions, "12x40", pod="c-0")],
            [
                _silent("ShopsysConsumerLagGrowing", "15m"),
                _fires("ShopsysConsumerLagGrowing", "25m", **warn, **consumer, topic="purchases"),
                _silent("ShopsysConsumerAtMaxReplicasLagGrowing", "35m"),
            ],
        ),
        # All three consumers run and the lag still grows -> critical, after its 15 minutes.
        _case(
            [*growing, *(_consumer(partitions, "4x40", pod=f"c-{n}") for n in range(3))],
            [
                _silent("ShopsysConsumerAtMaxReplicasLagGrowing", "20m"),
                _fires(
                    "ShopsysConsumerAtMaxReplicasLagGrowing",
                    "30m",
                    **crit,
                    **consumer,
                    topic="purchases",
                ),
            ],
        ),
        # A large but steady lag is being worked off at the rate it comes in: no alert.
        _case(
            [_consumer(lag, "5000x40", topic="purchases", partition="0", pod="c-0")],
            [_silent("ShopsysConsumerLagGrowing", "30m")],
        ),
        _case(
            [_consumer("shopsys_consumer_events_dead_lettered_total", "0+1x10", pod="c-0")],
            [_fires("ShopsysDeadLettersReceived", "5m", **warn, **consumer)],
        ),
        _case(
            [_consumer("shopsys_consumer_events_dead_lettered_total", "0x10", pod="c-0")],
            [_silent("ShopsysDeadLettersReceived", "10m")],
        ),
        _case(
            [
                _consumer("shopsys_consumer_ready", "1 1 0x10", pod="c-0"),
                _consumer("shopsys_consumer_ready", "1x12", pod="c-1"),
                _consumer("up", "1x12", pod="c-0"),
                _consumer("up", "1x12", pod="c-1"),
                _consumer("up", "0x12", pod="c-2"),
            ],
            [
                _silent("ShopsysConsumerNotReady", "4m"),
                {
                    "eval_time": "10m",
                    "alertname": "ShopsysConsumerNotReady",
                    "exp_alerts": [
                        {"exp_labels": {**warn, **consumer, "pod": "c-0"}},
                        {"exp_labels": {**warn, **consumer, "pod": "c-2"}},
                    ],
                },
            ],
        ),
        # Writes failing: paused and (therefore) not ready -> the critical alert only.
        _case(
            [
                _consumer("shopsys_consumer_paused", "0 1x10", pod="c-0"),
                _consumer("shopsys_consumer_ready", "1 0x10", pod="c-0"),
                _consumer("up", "1x11", pod="c-0"),
                _consumer("shopsys_consumer_paused", "0x11", pod="c-1"),
            ],
            [
                _fires("ShopsysConsumerWritesFailing", "8m", **crit, **consumer, pod="c-0"),
                _silent("ShopsysConsumerNotReady", "10m"),
            ],
        ),
        # A partition parked at a message the dead-letter topic refuses, for 5 minutes ->
        # critical; parked for a moment (retried and delivered) -> nothing.
        _case(
            [
                _consumer("shopsys_consumer_parked_partitions", "0 1x10", pod="c-0"),
                _consumer("shopsys_consumer_parked_partitions", "0 1 1 0x8", pod="c-1"),
            ],
            [
                _silent("ShopsysConsumerPartitionParked", "4m"),
                _fires("ShopsysConsumerPartitionParked", "8m", **crit, **consumer, pod="c-0"),
            ],
        ),
        # 10 % of purchases answered 503 -> critical, however many probes and reads succeed
        # beside them; 0.5 % -> nothing.
        _case(
            [
                _web(requests, "0+90x12", route="/api/v1/purchases", method="POST", status="201"),
                _web(requests, "0+10x12", route="/api/v1/purchases", method="POST", status="503"),
                _web(requests, "0+5000x12", route="/healthz", method="GET", status="200"),
            ],
            [_fires("ShopsysWebServerErrors", "10m", **crit, **web)],
        ),
        _case(
            [
                _web(requests, "0+199x12", route="/api/v1/purchases", method="POST", status="201"),
                _web(requests, "0+1x12", route="/api/v1/purchases", method="POST", status="503"),
            ],
            [_silent("ShopsysWebServerErrors", "10m")],
        ),
        _case(
            [
                _web("shopsys_web_kafka_reachable", "0x10", pod="w-0"),
                _web("shopsys_web_kafka_reachable", "1x10", pod="w-1"),
            ],
            [_fires("ShopsysWebKafkaUnreachable", "6m", **crit, **web, pod="w-0")],
        ),
    ]


def test_every_alert_fires_when_it_should_and_not_otherwise(
    helm: Path, prometheus_tools: PrometheusTools, tmp_path: Path
) -> None:
    """`promtool test rules` on the rendered rules. Annotations are left out of the copy under
    test (promtool would compare their rendered text); `check rules` above checks they parse."""
    rules = _rules(_render(helm, operator=True, sets=("consumer.autoscaling.maxReplicas=3",)))
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(rules))
    cases = _alert_cases()
    tested = {check["alertname"] for case in cases for check in case["alert_rule_test"]}
    assert tested == ALERTS
    (tmp_path / "tests.yaml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": cases})
    )
    proc = chartkit.run([prometheus_tools.promtool, "test", "rules", "tests.yaml"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout, proc.stdout


def test_alert_labels_may_not_override_the_severity(helm: Path) -> None:
    args = chartkit.template_args(
        helm,
        KUBE_VERSIONS[-1],
        keda=True,
        values=[SCENARIO],
        sets=["monitoring.prometheusRule.alertLabels.severity=info"],
        apis=[MONITORING_API],
    )
    proc = chartkit.run(args)
    assert proc.returncode != 0
    assert "alertLabels may not set severity" in proc.stderr
