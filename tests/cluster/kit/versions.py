"""Pinned versions and fixed addresses of the cluster tier."""

from __future__ import annotations

from typing import Final

KUBERNETES_VERSION: Final = "v1.34.4"
COREDNS_VERSION: Final = "v1.12.4"
METRICS_SERVER_VERSION: Final = "v0.7.2"
# The NetworkPolicy enforcer (its firewall controller only: iptables and ipsets in the node's
# namespace). The only version the module proxy serves here; it runs in the test sandbox only.
KUBE_ROUTER_VERSION: Final = "v2.1.0"
# KEDA's version is setup-env.sh's KEDA_VERSION (read by tests.chart.chartkit): one source.

# Debian packages the node needs: the container runtime, the CNI plugins, etcd, iptables for
# kube-proxy, dockerd to build images the way users do, a registry to push them to, and
# debootstrap for the base images.
DEBIAN_PACKAGES: Final = (
    "containerd",
    "runc",
    "containernetworking-plugins",
    "iptables",
    "conntrack",
    "ipset",
    "etcd-server",
    "docker.io",
    "docker-registry",
    "debootstrap",
    "openssl",
)

# The node lives in its own network namespace, joined to the host by one veth pair: every
# interface, route and firewall rule of the cluster lives there and goes away with it.
NETNS: Final = "shopsys-node"
HOST_LINK: Final = "shopsys-host"
NODE_LINK: Final = "shopsys-node"
HOST_IP: Final = "10.251.0.1"
NODE_IP: Final = "10.251.0.2"
LINK_PREFIX: Final = 30
NODE_NAME: Final = "shopsys-node"
POD_CIDR: Final = "10.244.0.0/24"
CLUSTER_CIDR: Final = "10.244.0.0/16"
SERVICE_CIDR: Final = "10.96.0.0/16"
KUBERNETES_SERVICE_IP: Final = "10.96.0.1"
DNS_SERVICE_IP: Final = "10.96.0.10"
CLUSTER_DOMAIN: Final = "cluster.local"
APISERVER_PORT: Final = 6443
# The image registry setup-env.sh pushes to: on the host end of the veth, so dockerd (host)
# pushes to it and containerd (node) pulls from it.
REGISTRY_PORT: Final = 5000
REGISTRY: Final = f"{HOST_IP}:{REGISTRY_PORT}"
CONTEXT: Final = "shopsys-cluster"
