"""One Kubernetes node in a network namespace of its own, and the daemons that make it a cluster.

Host side: dockerd (image builds, host network) and the registry setup-env.sh pushes to.
Node side (namespace `shopsys-node`, address 10.251.0.2 on a veth to the host): containerd,
etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and kube-proxy. Every
interface, route and iptables rule the cluster makes lives in that namespace and disappears
with it; `teardown` also unmounts what the kubelet and containerd mounted under the state dir.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from shopsys.provision.errors import ProvisionError

from . import processes, versions
from .builds import ClusterBinaries
from .pki import Pki, make_pki

CNI_BIN = "/usr/lib/cni"
CGROUP_ROOT = "shopsys"
DOCKER_CGROUP = "shopsys-docker"
# Stopped in this order: the API clients first, etcd after the API server, the runtimes last.
STOP_ORDER = (
    "port-forward",
    "kube-proxy",
    "kubelet",
    "kube-scheduler",
    "kube-controller-manager",
    "kube-apiserver",
    "etcd",
    "containerd",
    "registry",
    "dockerd",
)


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


# --- the network namespace -------------------------------------------------------------------


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
    with contextlib.suppress(ProvisionError):
        run(["ip", "link", "delete", v.HOST_LINK], check=False)
    run(["ip", "netns", "delete", v.NETNS], check=False)


def netns_exists() -> bool:
    return processes.NETNS_PATH.exists()


# --- configuration files ---------------------------------------------------------------------


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


# --- the daemons -----------------------------------------------------------------------------


def start_runtimes(layout: Layout) -> None:
    """dockerd (host network: builds reach the package registries) and the registry; containerd."""
    state = layout.state
    docker_dir = state / "docker"
    docker_dir.mkdir(parents=True, exist_ok=True)
    processes.start(
        state,
        "dockerd",
        [
            "dockerd",
            f"--data-root={layout.images / 'docker'}",
            f"--exec-root={docker_dir / 'exec'}",
            f"--pidfile={docker_dir / 'docker.pid'}",
            f"--host={layout.docker_host}",
            f"--cgroup-parent=/{DOCKER_CGROUP}",
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-forward=false",
            "--ip-masq=false",
            f"--insecure-registry={versions.REGISTRY}",
            "--storage-driver=overlay2",
        ],
        node=False,
    )
    processes.start(
        state, "registry", ["docker-registry", "serve", str(state / "registry.yaml")], node=False
    )
    processes.start(
        state, "containerd", ["containerd", "--config", str(state / "containerd" / "config.toml")]
    )
    wait_for("containerd", lambda: ctr(layout, "version").returncode == 0, 60, layout)
    wait_for(
        "dockerd",
        lambda: run(["docker", "version"], check=False, env=_docker_env(layout)).returncode == 0,
        90,
        layout,
    )


def _docker_env(layout: Layout) -> dict[str, str]:
    return {**os.environ, "DOCKER_HOST": layout.docker_host}


def start_control_plane(layout: Layout, binaries: ClusterBinaries) -> None:
    state, pki = layout.state, layout.pki
    kube = binaries.kubernetes
    processes.start(
        state,
        "etcd",
        [
            "etcd",
            f"--data-dir={state / 'etcd'}",
            "--listen-client-urls=http://127.0.0.1:2379",
            "--advertise-client-urls=http://127.0.0.1:2379",
            "--listen-peer-urls=http://127.0.0.1:2380",
            "--initial-advertise-peer-urls=http://127.0.0.1:2380",
            "--initial-cluster=default=http://127.0.0.1:2380",
            "--log-level=warn",
        ],
    )
    processes.start(
        state,
        "kube-apiserver",
        [
            str(kube / "kube-apiserver"),
            "--etcd-servers=http://127.0.0.1:2379",
            f"--bind-address={versions.NODE_IP}",
            f"--advertise-address={versions.NODE_IP}",
            f"--secure-port={versions.APISERVER_PORT}",
            f"--service-cluster-ip-range={versions.SERVICE_CIDR}",
            f"--client-ca-file={pki.crt('ca')}",
            f"--tls-cert-file={pki.crt('apiserver')}",
            f"--tls-private-key-file={pki.key('apiserver')}",
            f"--kubelet-client-certificate={pki.crt('apiserver-kubelet-client')}",
            f"--kubelet-client-key={pki.key('apiserver-kubelet-client')}",
            f"--kubelet-certificate-authority={pki.crt('ca')}",
            "--kubelet-preferred-address-types=InternalIP",
            f"--service-account-issuer=https://kubernetes.default.svc.{versions.CLUSTER_DOMAIN}",
            f"--service-account-key-file={pki.directory / 'sa.pub'}",
            f"--service-account-signing-key-file={pki.key('sa')}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            f"--requestheader-client-ca-file={pki.crt('front-proxy-ca')}",
            "--requestheader-allowed-names=front-proxy-client",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-username-headers=X-Remote-User",
            f"--proxy-client-cert-file={pki.crt('front-proxy-client')}",
            f"--proxy-client-key-file={pki.key('front-proxy-client')}",
            "--enable-aggregator-routing=true",
            "--allow-privileged=true",
        ],
    )
    wait_for("kube-apiserver", lambda: api_ready(layout), 120, layout)
    processes.start(
        state,
        "kube-controller-manager",
        [
            str(kube / "kube-controller-manager"),
            f"--kubeconfig={pki.kubeconfig('controller-manager')}",
            f"--authentication-kubeconfig={pki.kubeconfig('controller-manager')}",
            f"--authorization-kubeconfig={pki.kubeconfig('controller-manager')}",
            "--bind-address=127.0.0.1",
            "--leader-elect=false",
            "--allocate-node-cidrs=true",
            f"--cluster-cidr={versions.CLUSTER_CIDR}",
            f"--service-cluster-ip-range={versions.SERVICE_CIDR}",
            f"--root-ca-file={pki.crt('ca')}",
            f"--service-account-private-key-file={pki.key('sa')}",
            f"--cluster-signing-cert-file={pki.crt('ca')}",
            f"--cluster-signing-key-file={pki.key('ca')}",
            "--use-service-account-credentials=true",
        ],
    )
    processes.start(
        state,
        "kube-scheduler",
        [
            str(kube / "kube-scheduler"),
            f"--kubeconfig={pki.kubeconfig('scheduler')}",
            f"--authentication-kubeconfig={pki.kubeconfig('scheduler')}",
            f"--authorization-kubeconfig={pki.kubeconfig('scheduler')}",
            "--bind-address=127.0.0.1",
            "--leader-elect=false",
        ],
    )
    make_cgroup_root()
    processes.start(
        state,
        "kubelet",
        [
            str(kube / "kubelet"),
            f"--config={state / 'kubelet.yaml'}",
            f"--kubeconfig={pki.kubeconfig('kubelet')}",
            f"--root-dir={state / 'kubelet'}",
            f"--node-ip={versions.NODE_IP}",
            f"--hostname-override={versions.NODE_NAME}",
        ],
    )
    processes.start(
        state, "kube-proxy", [str(kube / "kube-proxy"), f"--config={state / 'kube-proxy.yaml'}"]
    )


def make_cgroup_root() -> None:
    """The kubelet's cgroupRoot must exist in every hierarchy (cpuset needs its cpus and mems)."""
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        if not (hierarchy / "cgroup.procs").exists():
            continue
        top = hierarchy / CGROUP_ROOT
        top.mkdir(exist_ok=True)
        for name in ("cpuset.cpus", "cpuset.mems"):
            if (top / name).exists() and not (top / name).read_text().strip():
                (top / name).write_text((hierarchy / name).read_text())


def api_ready(layout: Layout) -> bool:
    pki = layout.pki
    context = ssl.create_default_context(cafile=str(pki.crt("ca")))
    context.load_cert_chain(str(pki.crt("admin")), str(pki.key("admin")))
    url = f"https://{versions.NODE_IP}:{versions.APISERVER_PORT}/readyz"
    try:
        with urllib.request.urlopen(url, context=context, timeout=3) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_for(what: str, check: object, timeout: float, layout: Layout) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        for name in processes.names(layout.state):
            if processes.running(layout.state, name) is None:
                raise ProvisionError(
                    f"{name} exited while waiting for {what}; its log ends:\n"
                    f"{processes.log_tail(layout.state, name)}"
                )
        time.sleep(1)
    raise ProvisionError(
        f"{what} was not ready within {timeout:.0f} s; its log ends:\n"
        f"{processes.log_tail(layout.state, what)}"
    )


# --- teardown --------------------------------------------------------------------------------


def kill_cgroup_processes(root: str) -> None:
    """SIGKILL every process in the cgroup `root` (every hierarchy, every level below it)."""
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        for procs in (hierarchy / root).rglob("cgroup.procs"):
            with contextlib.suppress(OSError):
                for pid in procs.read_text().split():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)


def remove_containers(layout: Layout) -> None:
    """Kill every container of the node, then delete them from containerd's store (it lives on
    in the cache), so the next cluster starts with none."""
    kill_cgroup_processes(CGROUP_ROOT)
    if processes.running(layout.state, "containerd") is None:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        tasks = ctr(layout, "tasks", "ls", "-q").stdout.decode().split()
        for task in tasks:
            ctr(layout, "tasks", "delete", "--force", task)
        if not tasks:
            break
        time.sleep(0.2)
    containers = ctr(layout, "containers", "ls", "-q").stdout.decode().split()
    if containers:
        ctr(layout, "containers", "delete", *containers)


def unmount_under(root: Path) -> list[str]:
    """Lazily unmount everything mounted at or below `root`, deepest first; the paths."""
    prefix = str(root.resolve())
    mounts: list[str] = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if point == prefix or point.startswith(prefix + "/"):
            mounts.append(point)
    for point in sorted(set(mounts), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)
    return mounts


def remove_cgroups() -> None:
    for root in (CGROUP_ROOT, DOCKER_CGROUP):
        for hierarchy in Path("/sys/fs/cgroup").iterdir():
            top = hierarchy / root
            if not top.is_dir():
                continue
            for directory in sorted(
                (p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True
            ):
                with contextlib.suppress(OSError):
                    directory.rmdir()
            with contextlib.suppress(OSError):
                top.rmdir()


def teardown(layout: Layout) -> None:
    """Stop everything, unmount, delete the namespace and the state dir. Safe to run twice."""
    state = layout.state
    if state.exists():
        for name in ("port-forward", "kube-proxy", "kubelet"):
            for daemon in [n for n in processes.names(state) if n.startswith(name)]:
                processes.stop(state, daemon)
        remove_containers(layout)
        for name in STOP_ORDER:
            for daemon in [n for n in processes.names(state) if n.startswith(name)]:
                processes.stop(state, daemon, timeout=30)
        for leftover in processes.names(state):
            processes.stop(state, leftover)
        # Whatever outlived its daemon (a container's shim, dockerd's own containerd) names the
        # state directory on its command line.
        for pid in processes.processes_mentioning(str(state)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for _ in range(3):
            if not unmount_under(state):
                break
            time.sleep(0.5)
    delete_netns()
    remove_cgroups()
    if state.exists():
        shutil.rmtree(state, ignore_errors=True)


def leftovers(layout: Layout) -> list[str]:
    """What a teardown left behind: processes, mounts, the namespace, links, cgroups."""
    found = [f"process {pid}" for pid in processes.processes_mentioning(str(layout.state))]
    prefix = str(layout.state)
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4]
        if point == prefix or point.startswith(prefix + "/"):
            found.append(f"mount {point}")
    if netns_exists():
        found.append(f"network namespace {versions.NETNS}")
    if Path(f"/sys/class/net/{versions.HOST_LINK}").exists():
        found.append(f"interface {versions.HOST_LINK}")
    found += [
        f"cgroup {hierarchy / root}"
        for root in (CGROUP_ROOT, DOCKER_CGROUP)
        for hierarchy in Path("/sys/fs/cgroup").iterdir()
        if (hierarchy / root).exists()
    ]
    return found


def prepare(layout: Layout, pause_image: str) -> None:
    layout.state.mkdir(parents=True, exist_ok=True)
    layout.images.mkdir(parents=True, exist_ok=True)
    make_pki(layout.state / "pki")
    write_configs(layout, pause_image)
    create_netns()
