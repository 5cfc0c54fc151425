"""The objects a cluster holds before a user runs setup-env.sh, besides KEDA and metrics-server:
cluster DNS, a default storage class, and the external MongoDB (a FerretDB, since there is no
real mongod to be had here); and the release namespace with the Secret of the MongoDB URI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import images, versions

# The add-ons' CPU requests, lowered from their manifests' 50m to 100m: on a real cluster they
# run on other nodes, here they share the one 2-CPU node with the release, whose pods as
# shipped must fit at maximum scale (12 consumers, plus the one a rolling update adds).
ADDON_CPU_REQUEST = "10m"
# The database keeps a real share: under contention CPU goes by requests, and a starved
# FerretDB times out every consumer's writes.
FERRETDB_CPU_REQUEST = "150m"

DB_NAMESPACE = "shopsys-db"
FERRETDB_URI = f"mongodb://ferretdb.{DB_NAMESPACE}.svc.{versions.CLUSTER_DOMAIN}:27017/"
RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}

COREFILE = f""".:53 {{
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
                        # Port 53 in the pod, as on every usual cluster (NetworkPolicies
                        # match the pod's port), without root: a namespaced, safe sysctl.
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": 65532,
                            "seccompProfile": {"type": "RuntimeDefault"},
                            "sysctls": [
                                {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}
                            ],
                        },
                        "containers": [
                            {
                                "name": "coredns",
                                "image": images.coredns_image(),
                                "imagePullPolicy": "Never",
                                "args": ["-conf", "/etc/coredns/Corefile"],
                                "ports": [
                                    {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                                    {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                                ],
                                "readinessProbe": {
                                    "httpGet": {"path": "/ready", "port": 8181},
                                    "periodSeconds": 2,
                                },
                                "livenessProbe": {"httpGet": {"path": "/health", "port": 8080}},
                                "resources": {
                                    "requests": {"cpu": ADDON_CPU_REQUEST, "memory": "64Mi"},
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
                    {"name": "dns", "port": 53, "targetPort": 53, "protocol": "UDP"},
                    {"name": "dns-tcp", "port": 53, "targetPort": 53, "protocol": "TCP"},
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
                                "resources": {
                                    "requests": {"cpu": FERRETDB_CPU_REQUEST, "memory": "128Mi"}
                                },
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
