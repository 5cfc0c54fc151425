"""The chart's NetworkPolicies, enforced for real (kube-router's firewall controller): the flows
the system needs work, and what the policies do not allow is refused."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from .kit.cluster import ClusterInfo
from .kit.kubectl import Kubectl

pytestmark = pytest.mark.cluster

OUTSIDER_NAMESPACE = "shopsys-outsider"
PROBE = """
import json, socket
results = {}
for name, address in %s.items():
    host, port = address.rsplit(":", 1)
    sock = socket.socket()
    sock.settimeout(4)
    try:
        sock.connect((host, int(port)))
        results[name] = "open"
    except OSError as error:
        results[name] = type(error).__name__
    finally:
        sock.close()
print(json.dumps(results))
"""


def _probe(
    kubectl: Kubectl,
    cluster: ClusterInfo,
    namespace: str,
    targets: dict[str, str],
    *,
    restricted: bool = False,
) -> dict[str, str]:
    """Connect from a pod of `namespace` that carries none of the chart's labels."""
    web = kubectl(
        "-n", cluster.namespace, "get", "deployment", f"{cluster.release}-web", "-o", "json"
    )
    image = json.loads(web)["spec"]["template"]["spec"]["containers"][0]["image"]
    name = f"probe-{uuid.uuid4().hex[:6]}"
    options = [f"--image={image}", "--restart=Never"]
    if restricted:  # admitted by Pod Security "restricted"
        pod = {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        container = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
        spec = {
            "securityContext": pod,
            "containers": [{"name": name, "securityContext": container}],
        }
        options += ["--override-type=strategic", f"--overrides={json.dumps({'spec': spec})}"]
    script = PROBE % json.dumps(targets)
    kubectl("-n", namespace, "run", name, *options, "--command", "--", "python", "-c", script)
    try:
        kubectl(
            "-n", namespace, "wait", f"pod/{name}", "--for=jsonpath={.status.phase}=Succeeded",
            "--timeout=120s", timeout=150,
        )  # fmt: skip
        last = kubectl("-n", namespace, "logs", name).strip().splitlines()[-1]
        result: dict[str, str] = json.loads(last)
        return result
    finally:
        kubectl("-n", namespace, "delete", "pod", name, "--wait=false", check=False)


def _svc(cluster: ClusterInfo, name: str, port: int) -> str:
    return f"{cluster.release}-{name}.{cluster.namespace}.svc.cluster.local:{port}"


def test_a_pod_of_another_namespace_reaches_only_the_storefront(
    cluster: ClusterInfo, kubectl: Kubectl
) -> None:
    kubectl("create", "namespace", OUTSIDER_NAMESPACE, check=False)
    targets = {
        "web": _svc(cluster, "web", 80),  # shoppers may come from anywhere
        "kafka": _svc(cluster, "kafka", 9092),
        "kafka-pod": f"{cluster.release}-kafka-0.{_svc(cluster, 'kafka-headless', 9092)}",
        "management": _svc(cluster, "management", 8080),
    }
    results = _probe(kubectl, cluster, OUTSIDER_NAMESPACE, targets)
    assert results["web"] == "open", results  # the probe itself works
    assert results["kafka"] != "open", results
    assert results["kafka-pod"] != "open", results
    assert results["management"] != "open", results


def test_an_unlabelled_pod_of_the_release_namespace_is_refused_too(
    cluster: ClusterInfo, kubectl: Kubectl
) -> None:
    """Policies select pods by the chart's labels, not by namespace: an unlabelled pod next to
    the release reaches neither Kafka nor the management API."""
    targets = {
        "kafka": _svc(cluster, "kafka", 9092),
        "management": _svc(cluster, "management", 8080),
    }
    results = _probe(kubectl, cluster, cluster.namespace, targets, restricted=True)
    assert set(results) == set(targets)
    assert "open" not in results.values(), results


def test_keda_reads_the_lag_from_kafka_through_the_policies(
    cluster: ClusterInfo, kubectl: Kubectl
) -> None:
    """Web, the consumer, the init Job and helm test cross the policies in the other tests;
    here KEDA (namespace keda) reads the consumer group's lag from Kafka."""
    policies = json.loads(kubectl("-n", cluster.namespace, "get", "networkpolicies", "-o", "json"))
    assert len(policies["items"]) >= 5
    deadline = time.monotonic() + 120
    metric: dict[str, object] = {}
    while time.monotonic() < deadline:
        hpa = kubectl(
            "-n", cluster.namespace, "get", "hpa", f"{cluster.release}-consumer", "-o", "json"
        )
        current = json.loads(hpa).get("status", {}).get("currentMetrics") or []
        metric = current[0].get("external", {}) if current else {}
        if metric.get("current"):
            break
        time.sleep(3)
    assert metric.get("current"), f"KEDA never read the lag from Kafka: {metric}"
