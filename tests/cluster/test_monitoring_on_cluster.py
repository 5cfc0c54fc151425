"""The chart's monitoring objects on a real API server with the Prometheus Operator's CRDs:
installed by setup-env.sh, stored as rendered (a field the CRD schema does not know would be
pruned, silently), and a field the schema does not know refused under strict validation."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml

from .cluster import ClusterInfo, helm
from .kubectl import Kubectl

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
