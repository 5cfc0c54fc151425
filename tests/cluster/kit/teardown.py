"""Back to nothing: stop every daemon, kill every container, unmount, remove the cgroups and the
namespace (with its interfaces, routes and firewall rules), and say what, if anything, is left.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from . import processes, versions
from .node import CGROUP_ROOT, DOCKER_CGROUP, Layout, ctr, delete_netns, netns_exists

# Stopped in this order: the API clients first, etcd after the API server, the runtimes last.
STOP_ORDER = (
    "port-forward",
    "kube-router",
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


def cgroup_dirs(top: Path) -> list[Path]:
    """`top` and every directory below it, deepest first. The kubelet and containerd remove
    cgroups while this walks, so a directory that vanishes on the way is skipped, not an
    error (pathlib's rglob raised FileNotFoundError there and cut a teardown short)."""
    found = [Path(directory) for directory, _dirs, _files in os.walk(top, onerror=lambda _: None)]
    return sorted(found, key=lambda path: len(path.parts), reverse=True)


def kill_cgroup_processes(root: str) -> None:
    """SIGKILL every process in the cgroup `root` (every hierarchy, every level below it)."""
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        for directory in cgroup_dirs(hierarchy / root):
            with contextlib.suppress(OSError):
                for pid in (directory / "cgroup.procs").read_text().split():
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
            for directory in cgroup_dirs(hierarchy / root):  # `top` itself comes last
                with contextlib.suppress(OSError):
                    directory.rmdir()


def teardown(layout: Layout) -> None:
    """Stop everything, unmount, delete the namespace and the state dir. Safe to run twice.

    Every step runs even when one before it failed (a failure must not leave the rest of the
    cluster running); the first failure is raised at the end."""
    state = layout.state
    failures: list[Exception] = []

    def step(action: Callable[[], object]) -> None:
        try:
            action()
        except Exception as error:
            failures.append(error)

    if state.exists():
        for name in ("port-forward", "kube-proxy", "kubelet"):
            for daemon in [n for n in processes.names(state) if n.startswith(name)]:
                step(lambda daemon=daemon: processes.stop(state, daemon))
        step(lambda: remove_containers(layout))
        for name in STOP_ORDER:
            for daemon in [n for n in processes.names(state) if n.startswith(name)]:
                step(lambda daemon=daemon: processes.stop(state, daemon, timeout=30))
        for leftover in processes.names(state):
            step(lambda leftover=leftover: processes.stop(state, leftover))
        step(lambda: _kill_processes_mentioning(state))
        step(lambda: _unmount_all(state))
    step(delete_netns)
    step(remove_cgroups)
    if state.exists():
        shutil.rmtree(state, ignore_errors=True)
    if failures:
        raise failures[0]


def _kill_processes_mentioning(state: Path) -> None:
    """Whatever outlived its daemon (a container's shim, dockerd's own containerd) names the
    state directory on its command line."""
    for pid in processes.processes_mentioning(str(state)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _unmount_all(state: Path) -> None:
    for _ in range(3):
        if not unmount_under(state):
            break
        time.sleep(0.5)


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
