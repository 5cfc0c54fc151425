"""Run one long build step with a log file, heartbeat progress lines and a clear failure."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ProvisionError
from ..process import kill_group, tail

Progress = Callable[[str], None]

HEARTBEAT_SECONDS = 15.0
BUILD_TIMEOUT_SECONDS = 1800.0


def no_progress(_message: str) -> None:
    """A progress callback that says nothing."""


def format_duration(seconds: float) -> str:
    """`42 s` / `3 min 21 s`."""
    total = round(seconds)
    if total < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{total} s"
    return f"{total // 60} min {total % 60:02d} s"


def run_step(
    cmd: Sequence[str],
    *,
    label: str,
    log_path: Path,
    progress: Progress,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    heartbeat: float = HEARTBEAT_SECONDS,
    timeout: float = BUILD_TIMEOUT_SECONDS,
) -> None:
    """Run `cmd`, appending its output to `log_path`; print `still <label> (N s)` every heartbeat.

    Raises ProvisionError with the output tail when it fails or exceeds `timeout`.
    An interrupt (Ctrl-C) kills the step's whole process group.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **(env or {})}
    start = time.monotonic()
    offset = log_path.stat().st_size if log_path.exists() else 0
    with log_path.open("ab") as log:
        log.write(f"$ {shlex.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        next_beat = start + heartbeat
        try:
            while True:
                try:
                    returncode = proc.wait(timeout=min(0.5, heartbeat))
                    break
                except subprocess.TimeoutExpired:
                    pass
                now = time.monotonic()
                if now - start > timeout:
                    kill_group(proc.pid)
                    proc.wait()
                    raise ProvisionError(
                        f"{label} timed out after {format_duration(now - start)}: "
                        f"`{shlex.join(cmd)}`. Last lines of its output ({log_path}):\n"
                        f"{tail(log_path, start=offset)}"
                    )
                if now >= next_beat:
                    progress(f"still {label} ({format_duration(now - start)})")
                    next_beat += heartbeat
        except BaseException:
            kill_group(proc.pid)
            proc.wait()
            raise
    if returncode != 0:
        raise ProvisionError(
            f"{label} failed: `{shlex.join(cmd)}` exited with code {returncode}. "
            f"Last lines of its output ({log_path}):\n{tail(log_path, start=offset)}"
        )


@dataclass(frozen=True)
class BuildContext:
    """What a builder gets: a fresh temp dir to fill, a log file, the progress callback, and
    variables every step it runs gets (a step's own ``env`` goes on top)."""

    out_dir: Path
    log_path: Path
    progress: Progress
    env: Mapping[str, str] = field(default_factory=dict)

    def run(
        self,
        cmd: Sequence[str],
        *,
        label: str,
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        run_step(
            cmd,
            label=label,
            log_path=self.log_path,
            progress=self.progress,
            cwd=cwd,
            env={**self.env, **(env or {})},
        )
