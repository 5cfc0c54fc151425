"""Detached daemons of the cluster tier: started by `up`, found again and stopped by `down`.

Each daemon runs in its own session with its log in `<state>/logs/<name>.log`; its pid and
start time go to `<state>/pids/<name>`, so a later process can stop it without ever signalling
a recycled pid.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from . import versions

NETNS_PATH = Path("/run/netns") / versions.NETNS


def in_node(argv: Sequence[str]) -> list[str]:
    """`argv` run in the node's network namespace (only that one: mounts stay shared)."""
    return ["nsenter", f"--net={NETNS_PATH}", "--", *argv]


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":  # a zombie no one reaps is as good as gone
        return None
    return fields[19]


def start(
    state: Path,
    name: str,
    argv: Sequence[str],
    *,
    node: bool = True,
    env: Mapping[str, str] | None = None,
) -> int:
    logs, pids = state / "logs", state / "pids"
    logs.mkdir(parents=True, exist_ok=True)
    pids.mkdir(parents=True, exist_ok=True)
    command = in_node(argv) if node else list(argv)
    with (logs / f"{name}.log").open("ab") as log:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    (pids / name).write_text(f"{proc.pid} {_start_time(proc.pid)}\n")
    return proc.pid


def running(state: Path, name: str) -> int | None:
    """The daemon's pid while it runs, else None."""
    try:
        pid_text, started = (state / "pids" / name).read_text().split()
    except (OSError, ValueError):
        return None
    pid = int(pid_text)
    return pid if _start_time(pid) == started else None


def names(state: Path) -> list[str]:
    pids = state / "pids"
    return sorted(p.name for p in pids.iterdir()) if pids.is_dir() else []


def stop(state: Path, name: str, timeout: float = 20.0) -> None:
    """SIGTERM the daemon's process group, SIGKILL it after `timeout`. Idempotent."""
    pid = running(state, name)
    if pid is not None:
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while running(state, name) is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        if running(state, name) is not None:
            _signal_group(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while running(state, name) is not None and time.monotonic() < deadline:
                time.sleep(0.1)
    with contextlib.suppress(FileNotFoundError):
        (state / "pids" / name).unlink()


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def processes_mentioning(text: str) -> Iterator[int]:
    """Pids whose command line contains `text` (e.g. leftover containerd shims)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and int(entry.name) != os.getpid():
            yield int(entry.name)


def log_tail(state: Path, name: str, lines: int = 30) -> str:
    try:
        text = (state / "logs" / f"{name}.log").read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])
