"""The operations page's replica reads in the chart: off by default (no RBAC, no token in any
pod); on, a Role with only `get` on the two Deployments, bound to the chart's ServiceAccount,
whose token only the consumer mounts, and the Deployment names in the consumer's settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.chart import chartkit
from tests.chart.chartkit import KUBE_VERSIONS, RenderKey
from tests.chart.manifests import Renders

ENABLED = "ops-page-rbac-values"
ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
RBAC_KINDS = ("Role", "RoleBinding")


def _docs(renders: Renders, scenario: str, keda: bool = True) -> list[dict[str, Any]]:
    return renders[RenderKey(scenario, KUBE_VERSIONS[-1], keda=keda)]


def _mounts_token(workload: Any) -> bool:
    spec = chartkit.pod_spec(workload)
    projected = [v for v in spec.get("volumes", []) if "projected" in v]
    mounted = [
        m
        for c in spec["containers"]
        for m in c.get("volumeMounts", [])
        if m["mountPath"] == ACCOUNT_DIR
    ]
    return bool(projected or mounted or spec.get("automountServiceAccountToken", True))


def test_off_by_default_no_rbac_and_no_pod_holds_a_token(latest_renders: Renders) -> None:
    for key, docs in latest_renders.items():
        if key.scenario == ENABLED:
            continue
        assert [d for d in docs if d["kind"] in RBAC_KINDS] == [], key
        for workload in chartkit.workloads(docs):
            assert not _mounts_token(workload), (key, workload["metadata"]["name"])
        config = chartkit.one(docs, "ConfigMap", "shopping-system")["data"]
        assert not any(name.startswith("SHOPSYS_OPS_") for name in config), key


@pytest.mark.parametrize("keda", [True, False])
def test_on_a_role_gets_only_the_two_deployments_bound_to_the_charts_account(
    latest_renders: Renders, keda: bool
) -> None:
    docs = _docs(latest_renders, ENABLED, keda)
    deployments = {d["metadata"]["name"] for d in chartkit.by_kind(docs, "Deployment")}
    assert deployments == {"shopping-system-web", "shopping-system-consumer"}

    (role,) = chartkit.by_kind(docs, "Role")
    assert role["rules"] == [
        {
            "apiGroups": ["apps"],
            "resources": ["deployments"],
            "resourceNames": ["shopping-system-web", "shopping-system-consumer"],
            "verbs": ["get"],
        }
    ]
    (binding,) = chartkit.by_kind(docs, "RoleBinding")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    (account,) = chartkit.by_kind(docs, "ServiceAccount")
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": account["metadata"]["name"],
            "namespace": chartkit.NAMESPACE,
        }
    ]
    for doc in (role, binding):
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/component"] == "consumer"
        assert labels["app.kubernetes.io/instance"] == chartkit.RELEASE


def test_on_only_the_consumer_mounts_the_token_and_knows_the_names(
    latest_renders: Renders,
) -> None:
    docs = _docs(latest_renders, ENABLED)
    consumer = chartkit.one(docs, "Deployment", "shopping-system-consumer")
    others = [w for w in chartkit.workloads(docs) if w is not consumer]
    assert others
    assert not any(_mounts_token(w) for w in others)

    spec = chartkit.pod_spec(consumer)
    assert spec["serviceAccountName"] == "shopping-system"
    assert spec["automountServiceAccountToken"] is False  # the projected volume instead
    (volume,) = [v for v in spec["volumes"] if v["name"] == "kube-api-access"]
    sources = volume["projected"]["sources"]
    assert sources[0]["serviceAccountToken"]["path"] == "token"
    assert sources[1]["configMap"]["name"] == "kube-root-ca.crt"
    assert sources[2]["downwardAPI"]["items"][0]["path"] == "namespace"
    (container,) = spec["containers"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "kube-api-access"]
    assert mount == {"name": "kube-api-access", "mountPath": ACCOUNT_DIR, "readOnly": True}

    env = chartkit.container_env(docs, container)
    assert env["SHOPSYS_OPS_WEB_DEPLOYMENT"] == "shopping-system-web"
    assert env["SHOPSYS_OPS_CONSUMER_DEPLOYMENT"] == "shopping-system-consumer"


def test_on_behind_network_policies_the_consumer_may_reach_the_api_server(
    latest_renders: Renders,
) -> None:
    docs = _docs(latest_renders, ENABLED)
    egress = chartkit.one(docs, "NetworkPolicy", "shopping-system-consumer")["spec"]["egress"]
    api = [rule for rule in egress if {"port": 6443, "protocol": "TCP"} in rule["ports"]]
    assert api == [
        {
            "to": [{"ipBlock": {"cidr": "10.96.0.1/32"}}, {"ipBlock": {"cidr": "172.18.0.2/32"}}],
            "ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}],
        }
    ]
    web = chartkit.one(docs, "NetworkPolicy", "shopping-system-web")["spec"].get("egress", [])
    assert not any({"port": 6443, "protocol": "TCP"} in r.get("ports", []) for r in web)


def test_the_binding_follows_an_existing_service_account(helm: Path) -> None:
    proc = chartkit.run(
        chartkit.template_args(
            helm,
            KUBE_VERSIONS[-1],
            keda=False,
            sets=(
                "consumer.opsPage.kubernetesReplicas.enabled=true",
                "serviceAccount.create=false",
                "serviceAccount.name=platform-reader",
            ),
        )
    )
    assert proc.returncode == 0, proc.stderr
    docs = chartkit.parse_manifests(proc.stdout)
    assert chartkit.by_kind(docs, "ServiceAccount") == []
    (binding,) = chartkit.by_kind(docs, "RoleBinding")
    assert binding["subjects"][0]["name"] == "platform-reader"
    consumer = chartkit.one(docs, "Deployment", "shopping-system-consumer")
    assert chartkit.pod_spec(consumer)["serviceAccountName"] == "platform-reader"


def test_behind_network_policies_the_api_server_addresses_are_required(helm: Path) -> None:
    """No silent default of 0.0.0.0/0: that would open HTTPS egress to everywhere."""
    proc = chartkit.run(
        chartkit.template_args(
            helm,
            KUBE_VERSIONS[-1],
            keda=False,
            sets=("consumer.opsPage.kubernetesReplicas.enabled=true", "networkPolicy.enabled=true"),
        )
    )
    assert proc.returncode != 0
    assert "networkPolicy.kubernetesApiCIDRs is required" in proc.stderr
