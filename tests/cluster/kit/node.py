"""One Kubernetes node in a network namespace of its own: where it keeps things, its namespace
and its configuration files.

The node is the namespace `shopsys-node`, address 10.251.0.2 on a veth to the host (10.251.0.1).
Every interface, route and iptables rule the cluster makes lives in that namespace and
disappears with it. The daemons are in `daemons`, the way back to nothing in `teardown`.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from shopsys.devtools.errors import ProvisionError

from . import processes, versions
from .pki import Pki, make_pki

CNI_BIN = "/usr/lib/cni"
CGROUP_ROOT = "shopsys"
DOCKER_CGROUP = "shopsys-docker"


@dataclass(frozen=True)
class Layout:
    """Where a running cluster keeps things: `state` is wiped by teardown, `images` persists."""

    state: Path
    images: Path

    @property
    def pki(self) -> Pki:
        return Pki(self.state / "pki")

    @property
    def kubeconfig(self) -> Path:
        return self.pki.kubeconfig("admin")

    @property
    def containerd_socket(self) -> Path:
        return self.state / "containerd" / "containerd.sock"

    @property
    def docker_host(self) -> str:
        return f"unix://{self.state / 'docker' / 'docker.sock'}"

    @property
    def info_file(self) -> Path:
        return self.state / "cluster.json"


def run(
    argv: list[str], *, check: bool = True, timeout: float = 120, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )  # type: ignore[call-overload]
    if check and proc.returncode != 0:
        raise ProvisionError(
            f"`{' '.join(argv)}` failed ({proc.returncode}): {proc.stderr.strip()}"
        )
    return proc  # type: ignore[no-any-return]


def ctr(layout: Layout, *args: str, stdin: object = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["ctr", "--address", str(layout.containerd_socket), "-n", "k8s.io", *args],
        stdin=stdin,  # type: ignore[arg-type]
        capture_output=True,
        timeout=600,
        check=False,
    )


def create_netns() -> None:
    v = versions
    run(["ip", "netns", "add", v.NETNS])
    run(
        [
            "ip",
            "link",
            "add",
            v.HOST_LINK,
            "type",
            "veth",
            "peer",
            "name",
            v.NODE_LINK,
            "netns",
            v.NETNS,
        ]
    )
    run(["ip", "addr", "add", f"{v.HOST_IP}/{v.LINK_PREFIX}", "dev", v.HOST_LINK])
    run(["ip", "link", "set", v.HOST_LINK, "up"])
    run(["ip", "-n", v.NETNS, "addr", "add", f"{v.NODE_IP}/{v.LINK_PREFIX}", "dev", v.NODE_LINK])
    run(["ip", "-n", v.NETNS, "link", "set", v.NODE_LINK, "up"])
    run(["ip", "-n", v.NETNS, "link", "set", "lo", "up"])
    # The host reaches Services (web=, management= URLs) through the node, like a router would.
    run(["ip", "route", "add", v.SERVICE_CIDR, "via", v.NODE_IP, "dev", v.HOST_LINK])
    for key in ("net.ipv4.ip_forward=1", "net.bridge.bridge-nf-call-iptables=1"):
        run(processes.in_node(["sysctl", "-q", "-w", key]))


def delete_netns() -> None:
    v = versions
    run(["ip", "link", "delete", v.HOST_LINK], check=False)
    run(["ip", "netns", "delete", v.NETNS], check=False)


def netns_exists() -> bool:
    return processes.NETNS_PATH.exists()


def write_configs(layout: Layout, pause_image: str) -> None:
    state = layout.state
    (state / "cni" / "net.d").mkdir(parents=True, exist_ok=True)
    (state / "containerd").mkdir(parents=True, exist_ok=True)
    conflist = {
        "cniVersion": "1.0.0",
        "name": "shopsys",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": versions.POD_CIDR}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(state / "cni" / "ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    (state / "cni" / "net.d" / "10-shopsys.conflist").write_text(json.dumps(conflist, indent=2))
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    (state / "containerd" / "config.toml").write_text(
        f"""version = 2
root = "{layout.images / "containerd"}"
state = "{state / "containerd" / "state"}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "{layout.containerd_socket}"
[{cri}]
  sandbox_image = "{pause_image}"
  # This machine lacks CAP_SYS_RESOURCE: without it every pod fails to start.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
[{cri}.cni]
  bin_dir = "{CNI_BIN}"
  conf_dir = "{state / "cni" / "net.d"}"
[{cri}.containerd]
  default_runtime_name = "runc"
[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
[{cri}.registry.mirrors."{versions.REGISTRY}"]
  endpoint = ["http://{versions.REGISTRY}"]
[plugins."io.containerd.internal.v1.opt"]
  path = "{state / "containerd" / "opt"}"
"""
    )
    pki = layout.pki
    kubelet = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{CGROUP_ROOT}",
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "address": versions.NODE_IP,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "tlsCertFile": str(pki.crt("kubelet-serving")),
        "tlsPrivateKeyFile": str(pki.key("kubelet-serving")),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki.crt("ca"))},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDNS": [versions.DNS_SERVICE_IP],
        "clusterDomain": versions.CLUSTER_DOMAIN,
        "resolvConf": str(state / "resolv.conf"),
        "serializeImagePulls": False,
        "evictionHard": {
            "memory.available": "200Mi",
            "nodefs.available": "2%",
            "imagefs.available": "2%",
        },
        "imageGCHighThresholdPercent": 98,
        "imageGCLowThresholdPercent": 95,
        "maxPods": 110,
    }
    (state / "resolv.conf").write_text(f"search {versions.CLUSTER_DOMAIN}\n")
    (state / "kubelet.yaml").write_text(yaml.safe_dump(kubelet))
    proxy = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(pki.kubeconfig("kube-proxy"))},
        "mode": "iptables",
        "clusterCIDR": versions.CLUSTER_CIDR,
        "hostnameOverride": versions.NODE_NAME,
        "bindAddress": versions.NODE_IP,
        "metricsBindAddress": "127.0.0.1:10249",
        "healthzBindAddress": "127.0.0.1:10256",
        # Global conntrack sysctls cannot be set from a network namespace: leave them.
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
    }
    (state / "kube-proxy.yaml").write_text(yaml.safe_dump(proxy))
    registry = {
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(layout.images / "registry")}},
        "http": {"addr": versions.REGISTRY},
    }
    (state / "registry.yaml").write_text(yaml.safe_dump(registry))


def prepare(layout: Layout, pause_image: str) -> None:
    layout.state.mkdir(parents=True, exist_ok=True)
    layout.images.mkdir(parents=True, exist_ok=True)
    make_pki(layout.state / "pki")
    write_configs(layout, pause_image)
    create_netns()
