"""The daemons of the cluster, in the order they start.

Host side: dockerd (image builds on the host network, no bridge, no iptables) and the registry
setup-env.sh pushes to. Node side: containerd, etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, kubelet, kube-proxy and kube-router's firewall (the NetworkPolicy enforcer).
"""

from __future__ import annotations

import os
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

from shopsys.devtools.errors import ProvisionError

from . import processes, versions
from .builds import ClusterBinaries
from .node import CGROUP_ROOT, DOCKER_CGROUP, Layout, ctr, run


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
            # The HPA controller's loop, 15 s by default: one of the timings the tier shortens
            # (with the values in tests/cluster/values.yaml) to see scaling within minutes.
            "--horizontal-pod-autoscaler-sync-period=5s",
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


def start_policy_enforcer(layout: Layout, binaries: ClusterBinaries) -> None:
    """NetworkPolicies are enforced by kube-router's firewall controller alone (pod networking
    stays with the CNI bridge, Services with kube-proxy). It needs the registered node."""
    pki = layout.pki
    processes.start(
        layout.state,
        "kube-router",
        [
            str(binaries.kube_router),
            f"--kubeconfig={pki.kubeconfig('admin')}",
            f"--hostname-override={versions.NODE_NAME}",
            "--run-firewall=true",
            "--run-router=false",
            "--run-service-proxy=false",
            "--enable-cni=false",
            "--health-port=0",
        ],
    )
    wait_for("kube-router", _policy_chains_exist, 60, layout)


def _policy_chains_exist() -> bool:
    """kube-router has synced once: its filter chains exist in the node's namespace."""
    out = run(processes.in_node(["iptables", "-S", "FORWARD"]), check=False).stdout
    return "KUBE-ROUTER-FORWARD" in out


def check_running(layout: Layout) -> None:
    """Every daemon still runs: raise with the log of one that exited."""
    for name in processes.names(layout.state):
        if processes.running(layout.state, name) is None:
            raise ProvisionError(
                f"{name} exited; its log ends:\n{processes.log_tail(layout.state, name)}"
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
