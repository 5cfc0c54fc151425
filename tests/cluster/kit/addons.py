"""What a cluster has before a user runs setup-env.sh: cluster DNS, a storage class, KEDA and
metrics-server (from their own kustomize trees, images swapped for local ones), the Prometheus
Operator's CRDs (as kube-prometheus-stack installs them), and the external MongoDB (FerretDB)
the release uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from shopsys.devtools.errors import ProvisionError
from tests.chart.chartkit import load_crd, prometheus_operator_crd_files

from . import images, manifests
from .builds import ClusterBinaries
from .kubectl import Kubectl

KEDA_DEPLOYMENTS = {
    "keda-operator": "keda",
    "keda-metrics-apiserver": "keda-adapter",
    "keda-admission": "keda-admission-webhooks",
}


def _set_images(docs: list[dict[str, Any]], images_by_deployment: dict[str, str]) -> None:
    for doc in docs:
        if doc.get("kind") != "Deployment":
            continue
        name = doc["metadata"]["name"]
        if name not in images_by_deployment:
            raise ProvisionError(f"unexpected Deployment {name} in the rendered manifests")
        for container in doc["spec"]["template"]["spec"]["containers"]:
            container["image"] = images_by_deployment[name]
            container["imagePullPolicy"] = "Never"
            container.setdefault("resources", {}).setdefault("requests", {})["cpu"] = (
                manifests.ADDON_CPU_REQUEST
            )


def keda(kubectl: Kubectl, binaries: ClusterBinaries, version: str) -> list[dict[str, Any]]:
    """KEDA's own config/default tree (CRDs, operator, metrics adapter, admission webhooks)."""
    docs = [
        d
        for d in yaml.safe_load_all(kubectl("kustomize", str(binaries.keda / "config" / "default")))
        if d
    ]
    _set_images(
        docs,
        {name: images.keda_image(binary, version) for name, binary in KEDA_DEPLOYMENTS.items()},
    )
    for doc in docs:
        labels = doc["metadata"].setdefault("labels", {})
        if "app.kubernetes.io/version" in labels:
            labels["app.kubernetes.io/version"] = version  # as KEDA's release manifests say
    return docs


def metrics_server(kubectl: Kubectl, binaries: ClusterBinaries) -> list[dict[str, Any]]:
    manifests = binaries.metrics_server.parent / "manifests" / "base"
    docs = [d for d in yaml.safe_load_all(kubectl("kustomize", str(manifests))) if d]
    _set_images(docs, {"metrics-server": images.metrics_server_image()})
    for doc in docs:
        if doc.get("kind") == "Deployment":
            container = doc["spec"]["template"]["spec"]["containers"][0]
            # The kubelet's serving certificate is self-made, as on kind and minikube.
            container["args"] = [*container["args"], "--kubelet-insecure-tls"]
    return docs


def prometheus_operator_crds(kubectl: Kubectl) -> list[str]:
    """Only the CRDs, no operator: the chart's objects are accepted (or refused) by the API
    server's CRD schemas, and nothing here would read them. Applied from the files as they
    are (server-side: the Prometheus CRD is larger than client-side apply's annotation)."""
    names = []
    for path in prometheus_operator_crd_files():
        kubectl("apply", "--server-side", "--force-conflicts", "-f", str(path))
        names.append(f"crd/{load_crd(path)['metadata']['name']}")
    return names


def install(kubectl: Kubectl, binaries: ClusterBinaries, keda_version: str, pv_dir: Path) -> None:
    kubectl.apply(manifests.coredns() + manifests.storage(pv_dir) + manifests.ferretdb())
    kubectl.apply(metrics_server(kubectl, binaries))
    keda_docs = keda(kubectl, binaries, keda_version)
    crds = [d for d in keda_docs if d["kind"] == "CustomResourceDefinition"]
    kubectl.apply(crds)
    kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        *[f"crd/{d['metadata']['name']}" for d in crds],
        *prometheus_operator_crds(kubectl),
    )
    kubectl.apply([d for d in keda_docs if d["kind"] != "CustomResourceDefinition"])
    kubectl.rollout("kube-system", "deployment/coredns")
    kubectl.rollout(manifests.DB_NAMESPACE, "deployment/ferretdb")
    kubectl.rollout("kube-system", "deployment/metrics-server")
    for name in KEDA_DEPLOYMENTS:
        kubectl.rollout("keda", f"deployment/{name}")
