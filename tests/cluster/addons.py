"""What a cluster has before a user runs setup-env.sh: cluster DNS, a storage class, KEDA and
metrics-server (from their own kustomize trees, images swapped for local ones), and the
external MongoDB (FerretDB) the release uses, since there is no real mongod to be had here."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from shopsys.provision.errors import ProvisionError
from shopsys.provision.versions import FERRETDB_VERSION

from . import images, versions
from .builds import ClusterBinaries

DB_NAMESPACE = "shopsys-db"
FERRETDB_URI = f"mongodb://ferretdb.{DB_NAMESPACE}.svc.{versions.CLUSTER_DOMAIN}:27017/"
KEDA_DEPLOYMENTS = {
    "keda-operator": "keda",
    "keda-metrics-apiserver": "keda-adapter",
    "keda-admission": "keda-admission-webhooks",
}
RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}

COREFILE = f""".:1053 {{
    errors
    health :8080
    ready :8181
    kubernetes {versions.CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 30
    reload
}}
"""


class Kubectl:
    def __init__(self, binary: Path, kubeconfig: Path) -> None:
        self.binary = binary
        self.kubeconfig = kubeconfig

    def __call__(
        self, *args: str, stdin: str | None = None, timeout: float = 300, check: bool = True
    ) -> str:
        proc = subprocess.run(
            [str(self.binary), f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise ProvisionError(
                f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}\n{proc.stdout[-2000:]}"
            )
        return proc.stdout

    def run_raw(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binary), f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def apply(self, docs: list[dict[str, Any]]) -> None:
        self(
            "apply", "--server-side", "--force-conflicts", "-f", "-", stdin=yaml.safe_dump_all(docs)
        )

    def rollout(self, namespace: str, kind_name: str, timeout: int = 300) -> None:
        self(
            "-n",
            namespace,
            "rollout",
            "status",
            kind_name,
            f"--timeout={timeout}s",
            timeout=timeout + 30,
        )


def _meta(name: str, namespace: str | None = None, **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    return meta


def coredns() -> list[dict[str, Any]]:
    ns = "kube-system"
    labels = {"k8s-app": "kube-dns"}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": _meta("coredns", ns)},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": _meta("system:coredns"),
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["endpoints", "services", "pods", "namespaces"],
                    "verbs": ["list", "watch"],
                },
                {
                    "apiGroups": ["discovery.k8s.io"],
                    "resources": ["endpointslices"],
                    "verbs": ["list", "watch"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": _meta("system:coredns"),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:coredns",
            },
            "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": ns}],
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta("coredns", ns),
            "data": {"Corefile": COREFILE},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta("coredns", ns, **labels),
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "serviceAccountName": "coredns",
                        "dnsPolicy": "Default",
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": 65532,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [
                            {
                                "name": "coredns",
                                "image": images.coredns_image(),
                                "imagePullPolicy": "Never",
                                "args": ["-conf", "/etc/coredns/Corefile"],
                                "ports": [
                                    {"name": "dns", "containerPort": 1053, "protocol": "UDP"},
                                    {"name": "dns-tcp", "containerPort": 1053, "protocol": "TCP"},
                                ],
                                "readinessProbe": {
                                    "httpGet": {"path": "/ready", "port": 8181},
                                    "periodSeconds": 2,
                                },
                                "livenessProbe": {"httpGet": {"path": "/health", "port": 8080}},
                                "resources": {
                                    "requests": {"cpu": "50m", "memory": "64Mi"},
                                    "limits": {"memory": "170Mi"},
                                },
                                "securityContext": RESTRICTED_CONTAINER,
                                "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns"}],
                            }
                        ],
                        "volumes": [{"name": "config", "configMap": {"name": "coredns"}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta("kube-dns", ns, **labels),
            "spec": {
                "clusterIP": versions.DNS_SERVICE_IP,
                "selector": labels,
                "ports": [
                    {"name": "dns", "port": 53, "targetPort": 1053, "protocol": "UDP"},
                    {"name": "dns-tcp", "port": 53, "targetPort": 1053, "protocol": "TCP"},
                ],
            },
        },
    ]


def storage(directory: Path) -> list[dict[str, Any]]:
    """A default StorageClass with statically made hostPath volumes (no provisioner here)."""
    docs: list[dict[str, Any]] = [
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": "local",
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "WaitForFirstConsumer",
            "reclaimPolicy": "Retain",
        }
    ]
    for number in range(3):
        path = directory / f"pv-{number}"
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o777)  # hostPath volumes get no fsGroup: any pod user must write here
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": f"local-{number}"},
                "spec": {
                    "capacity": {"storage": "20Gi"},
                    "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": "local",
                    "hostPath": {"path": str(path), "type": "Directory"},
                },
            }
        )
    return docs


def ferretdb() -> list[dict[str, Any]]:
    labels = {"app.kubernetes.io/name": "ferretdb"}
    restricted = {"pod-security.kubernetes.io/enforce": "restricted"}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(DB_NAMESPACE, **restricted)},
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta("ferretdb", DB_NAMESPACE, **labels),
            "spec": {
                "replicas": 1,
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "automountServiceAccountToken": False,
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": 65532,
                            "fsGroup": 65532,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [
                            {
                                "name": "ferretdb",
                                "image": images.FERRETDB,
                                "imagePullPolicy": "Never",
                                "args": [
                                    "-listen-addr=:27017",
                                    "-sqlite-dir=/data",
                                    "-log-level=warn",
                                ],
                                "ports": [{"name": "mongodb", "containerPort": 27017}],
                                "readinessProbe": {
                                    "tcpSocket": {"port": 27017},
                                    "periodSeconds": 2,
                                },
                                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                                "securityContext": RESTRICTED_CONTAINER,
                                "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                            }
                        ],
                        "volumes": [{"name": "data", "emptyDir": {}}],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": _meta("ferretdb", DB_NAMESPACE, **labels),
            "spec": {
                "selector": labels,
                "ports": [{"name": "mongodb", "port": 27017, "targetPort": 27017}],
            },
        },
    ]


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


def install(kubectl: Kubectl, binaries: ClusterBinaries, keda_version: str, pv_dir: Path) -> None:
    kubectl.apply(coredns() + storage(pv_dir) + ferretdb())
    kubectl.apply(metrics_server(kubectl, binaries))
    keda_docs = keda(kubectl, binaries, keda_version)
    crds = [d for d in keda_docs if d["kind"] == "CustomResourceDefinition"]
    kubectl.apply(crds)
    kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        *[f"crd/{d['metadata']['name']}" for d in crds],
    )
    kubectl.apply([d for d in keda_docs if d["kind"] != "CustomResourceDefinition"])
    kubectl.rollout("kube-system", "deployment/coredns")
    kubectl.rollout(DB_NAMESPACE, "deployment/ferretdb")
    kubectl.rollout("kube-system", "deployment/metrics-server")
    for name in KEDA_DEPLOYMENTS:
        kubectl.rollout("keda", f"deployment/{name}")


def release_namespace(namespace: str, mongodb_secret: str) -> list[dict[str, Any]]:
    """The namespace setup-env.sh installs into (Pod Security "restricted") and the Secret with
    the URI of the external MongoDB, as a user of an external MongoDB prepares them."""
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": _meta(namespace, **{"pod-security.kubernetes.io/enforce": "restricted"}),
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": _meta(mongodb_secret, namespace),
            "stringData": {"mongodb-uri": FERRETDB_URI},
        },
    ]


__all__ = ["FERRETDB_VERSION", "Kubectl", "install", "release_namespace"]
