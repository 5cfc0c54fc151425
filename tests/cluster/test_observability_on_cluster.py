"""Observability on the real cluster. The chart's monitoring objects on an API server with the
Prometheus Operator's CRDs: installed by setup-env.sh, stored as rendered (a field the CRD
schema does not know would be pruned, silently), and such a field refused under strict
validation. The operations page, inside a consumer pod: the group read from Kafka, and the
replica counts read from the API server through the chart's Role."""

from __future__ import annotations

import copy
import json
from typing import Any

import httpx
import pytest
import yaml

from tests.support.polling import eventually

from .kit.cluster import ClusterInfo, helm
from .kit.kubectl import Kubectl

pytestmark = pytest.mark.cluster

KINDS = ("ServiceMonitor", "PrometheusRule")


def _rendered(cluster: ClusterInfo) -> list[dict[str, Any]]:
    proc = helm(cluster, "get", "manifest", cluster.release)
    assert proc.returncode == 0, proc.stderr
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc and doc["kind"] in KINDS]


def _missing(rendered: Any, stored: Any, where: str = "") -> list[str]:
    """Where `stored` lacks or changed what `rendered` says (defaults it added are fine)."""
    if isinstance(rendered, dict):
        if not isinstance(stored, dict):
            return [where]
        return [
            miss
            for key, value in rendered.items()
            for miss in _missing(value, stored.get(key), f"{where}.{key}")
        ]
    if isinstance(rendered, list):
        if not isinstance(stored, list) or len(stored) != len(rendered):
            return [where]
        return [m for i, v in enumerate(rendered) for m in _missing(v, stored[i], f"{where}[{i}]")]
    return [] if rendered == stored else [where]


def test_the_monitoring_objects_are_stored_as_rendered(
    cluster: ClusterInfo, kubectl: Kubectl
) -> None:
    rendered = _rendered(cluster)
    assert sorted(doc["kind"] for doc in rendered) == [
        "PrometheusRule",
        "ServiceMonitor",
        "ServiceMonitor",
    ]
    for doc in rendered:
        name = doc["metadata"]["name"]
        stored = json.loads(
            kubectl("-n", cluster.namespace, "get", doc["kind"].lower(), name, "-o", "json")
        )
        assert _missing(doc["spec"], stored["spec"], doc["kind"]) == [], f"{name} was pruned"
        assert stored["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    dashboards = json.loads(
        kubectl(
            "-n", cluster.namespace, "get", "configmap", "-l", "grafana_dashboard=1", "-o", "json"
        )
    )["items"]
    assert [item["metadata"]["name"] for item in dashboards] == [f"{cluster.release}-dashboard"]
    json.loads(dashboards[0]["data"]["shopsys-overview.json"])


def test_strict_validation_refuses_a_field_the_crd_does_not_know(
    cluster: ClusterInfo, kubectl: Kubectl
) -> None:
    monitor = copy.deepcopy(next(d for d in _rendered(cluster) if d["kind"] == "ServiceMonitor"))
    monitor["spec"]["endpoints"][0]["intervall"] = "15s"
    proc = kubectl.run_raw(
        "-n",
        cluster.namespace,
        "apply",
        "--server-side",
        "--dry-run=server",
        "--validate=strict",
        "--field-manager=shopsys-test",
        "--force-conflicts",
        "-f",
        "-",
        stdin=yaml.safe_dump(monitor),
    )
    assert proc.returncode != 0, proc.stdout
    assert "intervall" in proc.stderr, proc.stderr


def _ready_replicas(kubectl: Kubectl, namespace: str, name: str) -> int:
    deployment = json.loads(kubectl("-n", namespace, "get", "deployment", name, "-o", "json"))
    return int(deployment["status"].get("readyReplicas", 0))


def test_the_operations_page_reads_the_group_and_the_replica_counts(
    cluster: ClusterInfo, kubectl: Kubectl
) -> None:
    web, consumer = f"{cluster.release}-web", f"{cluster.release}-consumer"

    def settled() -> dict[str, Any] | None:
        snapshot: dict[str, Any] = httpx.get(
            f"{cluster.management}/api/v1/operations", timeout=30
        ).json()
        replicas, group = snapshot["replicas"], snapshot["group_members"]
        if not (replicas["available"] and group["available"] and snapshot["offsets"]["available"]):
            return None
        seen = (replicas["web"]["ready"], replicas["consumer"]["ready"], len(group["members"]))
        wanted = (
            _ready_replicas(kubectl, cluster.namespace, web),
            _ready_replicas(kubectl, cluster.namespace, consumer),
            _ready_replicas(kubectl, cluster.namespace, consumer),
        )
        return snapshot if seen == wanted else None

    snapshot = eventually(
        settled,
        timeout=60,
        every=2,
        what=lambda: httpx.get(f"{cluster.management}/api/v1/operations", timeout=30).text,
    )
    assert snapshot["replicas"]["web"]["name"] == web
    assert snapshot["replicas"]["consumer"]["name"] == consumer
    owned = sorted(
        p for member in snapshot["group_members"]["members"] for p in member["partitions"]
    )
    assert owned == list(range(len(snapshot["offsets"]["partitions"])))
