"""Bring the cluster up with the system installed by setup-env.sh, and take it all down again.

`tests/cluster/up` and `down` call `up()` and `down()`; the pytest tier uses the same two.

Past 300 lines: up and down, in the order they must happen, read best in one place.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from shopsys.devtools.errors import ProvisionError
from shopsys.devtools.provision import ensure_helm
from shopsys.devtools.provision.build import Progress, format_duration
from shopsys.devtools.provision.cache import default_cache_dir
from tests.chart.chartkit import REPO_ROOT, pinned_keda_version

from . import addons, daemons, images, manifests, node, processes, teardown, versions
from .builds import ClusterBinaries, ensure_binaries
from .kubectl import Kubectl

STATE_ENV = "SHOPSYS_CLUSTER_STATE_DIR"
DEFAULT_STATE = Path("/var/lib/shopsys-cluster")
RELEASE = "shopping-system"
NAMESPACE = "shopping-system"
MONGODB_SECRET = "shopsys-mongodb"  # noqa: S105 - the Secret's name, not a password
VALUES = Path(__file__).parents[1] / "values.yaml"
SETUP_ENV = REPO_ROOT / "setup-env.sh"
CHART = REPO_ROOT / "chart"


@dataclass(frozen=True)
class ClusterInfo:
    """What `up` prints, one `key=value` line each, and what the tests use."""

    kubeconfig: str
    kubectl: str
    helm: str
    web: str
    management: str
    namespace: str
    release: str
    docker_host: str
    mongodb: str

    def lines(self) -> list[str]:
        return [f"{key}={value}" for key, value in asdict(self).items()]


def layout() -> node.Layout:
    state = Path(os.environ.get(STATE_ENV) or DEFAULT_STATE)
    return node.Layout(state=state, images=default_cache_dir() / "cluster-images")


def ensure_debian_packages(progress: Progress) -> None:
    _require_root()
    missing = []
    for package in versions.DEBIAN_PACKAGES:
        proc = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package],
            capture_output=True,
            text=True,
            check=False,
        )
        if "install ok installed" not in proc.stdout:
            missing.append(package)
    if not missing:
        return
    progress(f"installing Debian packages: {' '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
    ):
        proc = subprocess.run(
            argv, capture_output=True, text=True, env=env, check=False, timeout=1200
        )
        if proc.returncode != 0:
            raise ProvisionError(
                f"`{' '.join(argv)}` failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
            )


def _require_root() -> None:
    if os.geteuid() != 0:
        raise ProvisionError(
            "the cluster tier needs root: it creates a network namespace, runs containerd and "
            "the kubelet, and mounts pod volumes"
        )


def read_info(lay: node.Layout | None = None) -> ClusterInfo | None:
    lay = lay or layout()
    try:
        return ClusterInfo(**json.loads(lay.info_file.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def is_up(lay: node.Layout) -> bool:
    return any(processes.running(lay.state, name) for name in processes.names(lay.state))


@dataclass(frozen=True)
class Provisioned:
    binaries: ClusterBinaries
    helm: Path
    rootfs: Path
    specs: list[images.ImageSpec]


def provision(progress: Progress) -> Provisioned:
    """Everything the cluster needs from the package registries, built into the cache: the
    slow part of a first run, which tests/run.sh starts beside the other tiers' tests.
    Concurrent callers wait for one build of each entry (the cache's file locks)."""
    _require_root()
    ensure_debian_packages(progress)
    cache = default_cache_dir()
    keda_version = pinned_keda_version()
    binaries = ensure_binaries(cache, progress, keda_version)
    return Provisioned(
        binaries=binaries,
        helm=ensure_helm(cache, progress),
        rootfs=images.ensure_rootfs(cache, progress),
        specs=images.image_specs(cache, binaries, keda_version, progress),
    )


def up(progress: Progress) -> ClusterInfo:
    """Provision, start the node, install KEDA and metrics-server, then run setup-env.sh."""
    _require_root()
    lay = layout()
    if is_up(lay):
        raise ProvisionError(
            f"a cluster is already running (state in {lay.state}): run tests/cluster/down first"
        )
    teardown.teardown(lay)  # leftovers of an interrupted run
    started = time.monotonic()
    provisioned = provision(progress)
    binaries, helm, keda_version = provisioned.binaries, provisioned.helm, pinned_keda_version()
    progress(f"provisioned in {format_duration(time.monotonic() - started)}; starting the node")
    try:
        node.prepare(lay, images.PAUSE)
        daemons.start_runtimes(lay)
        docker = images.Docker(lay.docker_host)
        images.import_rootfs(docker, provisioned.rootfs)
        for spec in provisioned.specs:
            images.build_image(docker, spec, progress)
        images.load_into_node(
            docker,
            [spec.name for spec in provisioned.specs if spec.name != images.PYTHON_BASE],
            lambda *args, stdin=None: node.ctr(lay, *args, stdin=stdin),
            lay.images / "loaded.json",
            progress,
        )
        daemons.start_control_plane(lay, binaries)
        kubectl = Kubectl(binaries.kubectl, lay.kubeconfig)
        daemons.wait_for("kubelet", lambda: _node_ready(kubectl), 120, lay)
        daemons.start_policy_enforcer(lay, binaries)
        progress(
            f"node ready after {format_duration(time.monotonic() - started)}; installing add-ons"
        )
        addons.install(kubectl, binaries, keda_version, lay.state / "volumes")
        kubectl.apply(manifests.release_namespace(NAMESPACE, MONGODB_SECRET))
        progress(
            f"add-ons ready after {format_duration(time.monotonic() - started)}; "
            "running setup-env.sh"
        )
        info = ClusterInfo(
            kubeconfig=str(lay.kubeconfig),
            kubectl=str(binaries.kubectl),
            helm=str(helm),
            web="",
            management="",
            namespace=NAMESPACE,
            release=RELEASE,
            docker_host=lay.docker_host,
            mongodb=_service_url(kubectl, manifests.DB_NAMESPACE, "ferretdb", "mongodb"),
        )
        setup_env(info, progress=progress)
        info = replace(
            info,
            web=_service_url(kubectl, NAMESPACE, f"{RELEASE}-web", "http"),
            management=_service_url(kubectl, NAMESPACE, f"{RELEASE}-management", "http"),
        )
        daemons.check_running(lay)
        lay.info_file.write_text(json.dumps(asdict(info), indent=1))
        progress(f"cluster up in {format_duration(time.monotonic() - started)}")
        return info
    except BaseException:
        if not os.environ.get("SHOPSYS_CLUSTER_KEEP"):
            progress(
                "bringing the cluster up failed: tearing it down (SHOPSYS_CLUSTER_KEEP=1 keeps it)"
            )
            teardown.teardown(lay)
        raise


def down() -> None:
    """Stop and remove everything; raise if anything is left behind."""
    _require_root()
    lay = layout()
    teardown.teardown(lay)
    left = teardown.leftovers(lay)
    if left:
        raise ProvisionError("the teardown left behind: " + ", ".join(left))


def _node_ready(kubectl: Kubectl) -> bool:
    out = kubectl(
        "get",
        "node",
        versions.NODE_NAME,
        "-o",
        'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
        check=False,
    )
    return out.strip() == "True"


def _service_url(kubectl: Kubectl, namespace: str, name: str, scheme: str) -> str:
    """The Service's ClusterIP address: the host routes the Service range into the node."""
    out = kubectl(
        "-n",
        namespace,
        "get",
        "service",
        name,
        "-o",
        "jsonpath={.spec.clusterIP} {.spec.ports[0].port}",
    )
    ip, port = out.split()
    return f"{scheme}://{ip}:{port}" if scheme != "mongodb" else f"mongodb://{ip}:{port}/"


def tool_env(info: ClusterInfo) -> dict[str, str]:
    """The environment a user of this cluster has: its kubeconfig, kubectl and helm on PATH."""
    path = os.pathsep.join(
        [str(Path(info.kubectl).parent), str(Path(info.helm).parent), os.environ.get("PATH", "")]
    )
    return {
        **os.environ,
        "KUBECONFIG": info.kubeconfig,
        "DOCKER_HOST": info.docker_host,
        "PATH": path,
    }


def helm(
    info: ClusterInfo, *args: str, namespace: str | None = None
) -> subprocess.CompletedProcess[str]:
    """helm in the release's namespace (or `namespace`), as a user of this cluster runs it."""
    return subprocess.run(
        [info.helm, *args, "--namespace", namespace or info.namespace],
        capture_output=True,
        text=True,
        env=tool_env(info),
        timeout=900,
        check=False,
    )


def setup_env_args() -> list[str]:
    return [
        "--registry",
        versions.REGISTRY,
        "--build-arg",
        f"PYTHON_IMAGE={images.PYTHON_BASE}",
        "--build-network",
        "host",
        "--values",
        str(VALUES),
        "--timeout",
        "6m",
    ]


def setup_env(
    info: ClusterInfo,
    *extra: str,
    progress: Progress | None = None,
    args: Sequence[str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ./setup-env.sh as a user would, against this cluster; raise unless it exits 0."""
    argv = ["bash", str(SETUP_ENV), *(setup_env_args() if args is None else args), *extra]
    log = layout().state / "logs" / "setup-env.log"
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        env=tool_env(info),
        timeout=1800,
        check=False,
        cwd=REPO_ROOT,
    )
    with log.open("a") as fh:
        fh.write(f"$ {' '.join(argv)}\n{proc.stdout}\n{proc.stderr}\n")
    if proc.returncode != 0:
        raise ProvisionError(
            f"setup-env.sh exited {proc.returncode}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    if progress and proc.stdout.strip():
        progress("setup-env.sh finished: " + proc.stdout.strip().splitlines()[-1])
    return proc
