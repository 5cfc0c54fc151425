"""A local server process: own session, log file in its work dir, readiness wait, stop/kill."""

from __future__ import annotations

import atexit
import contextlib
import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from .build import kill_group, tail
from .errors import ServerStartError

HOST = "127.0.0.1"
_LIVE: set[ManagedServer] = set()


def free_port(exclude: frozenset[int] = frozenset()) -> int:
    """A currently free TCP port on 127.0.0.1 (not in `exclude`)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port = int(sock.getsockname()[1])
        if port not in exclude:
            return port


def port_open(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout):
            return True
    except OSError:
        return False


class ManagedServer(ABC):
    """Base for KafkaBroker / FerretDBServer: start(), stop(), kill(), context manager.

    The process runs in its own session (process group) with stdout/stderr appended to
    `log_path`; start() after stop() or kill() reuses the same ports and data.
    """

    name: str = "server"

    def __init__(self, work_dir: Path, log_name: str) -> None:
        self.work_dir = Path(work_dir).resolve()
        self.log_path = self.work_dir / log_name
        self._proc: subprocess.Popen[bytes] | None = None

    @abstractmethod
    def _command(self) -> Sequence[str]:
        """The server's argv; may prepare files in the work dir first."""

    @abstractmethod
    def _ready(self, timeout: float) -> bool:
        """True once the server answers a real request."""

    def _env(self) -> Mapping[str, str] | None:
        return None

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 60.0) -> None:
        """Start (no-op if running) and wait until it answers; ServerStartError if it does not."""
        if self.running:
            return
        self.stop()  # reap a crashed process and its group
        self.work_dir.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + timeout
        cmd = list(self._command())
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            log.write(f"\n=== {time.strftime('%H:%M:%S')} starting {self.name}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                cmd,
                cwd=self.work_dir,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _LIVE.add(self)
        try:
            while True:
                returncode = self._proc.poll()
                if returncode is not None:
                    raise ServerStartError(
                        f"{self.name} exited with code {returncode} while starting. "
                        f"Last lines of {self.log_path}:\n{tail(self.log_path, start=offset)}"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ServerStartError(
                        f"{self.name} did not become ready within {timeout:.0f} s. "
                        f"Last lines of {self.log_path}:\n{tail(self.log_path, start=offset)}"
                    )
                if self._ready(min(remaining, 3.0)):
                    return
                time.sleep(0.2)
        except BaseException:
            self.kill()
            raise

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM, then SIGKILL the process group after `timeout` s. Idempotent."""
        self._terminate(timeout)

    def _terminate(self, timeout: float) -> bool:
        """Stop the process; True if it ended on SIGTERM (or was not running)."""
        proc = self._proc
        graceful = True
        if proc is not None and proc.poll() is None:
            kill_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                graceful = False
                kill_group(proc.pid, signal.SIGKILL)
                proc.wait()
        self._proc = None
        _LIVE.discard(self)
        return graceful

    def kill(self) -> None:
        """SIGKILL the process group now (for fault tests). Idempotent."""
        proc = self._proc
        if proc is not None:
            kill_group(proc.pid, signal.SIGKILL)
            proc.wait()
        self._proc = None
        _LIVE.discard(self)

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log_path, lines)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@atexit.register
def _stop_all() -> None:
    """Best effort: do not leave servers behind when the interpreter exits."""
    for server in list(_LIVE):
        with contextlib.suppress(Exception):
            server.stop(timeout=5.0)
