"""The one supervisor of local servers: Kafka, FerretDB and the ``shopsys`` roles alike.

Each runs in its own session (process group) with stdout and stderr appended to a log file;
``start()`` waits until it answers a real request, ``stop()`` is SIGTERM then SIGKILL,
``kill()`` is SIGKILL now and ``frozen()`` a stall (for the fault tests). Nothing outlives
the interpreter.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from .errors import ServerStartError

_LIVE: set[ManagedProcess] = set()


def tail(path: Path, lines: int = 40, start: int = 0) -> str:
    """The last `lines` lines of a (log) file from byte offset `start`; '' if unreadable."""
    try:
        with path.open("rb") as fh:
            fh.seek(start)
            data = fh.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    """Signal the process group led by `pid` (started with start_new_session=True)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class ManagedProcess(ABC):
    """A local server as a subprocess; `start()` after `stop()` or `kill()` starts it again."""

    name: str = "server"

    def __init__(self, log_path: Path, cwd: Path | None = None) -> None:
        self.log_path = Path(log_path).resolve()
        self.cwd = cwd
        self.process: subprocess.Popen[bytes] | None = None
        self.stopped_gracefully = True
        self._log_offset = 0

    @abstractmethod
    def _command(self) -> Sequence[str]:
        """The server's argv; may prepare files first."""

    @abstractmethod
    def _ready(self, timeout: float) -> bool:
        """True once the server answers a real request."""

    def _env(self) -> Mapping[str, str]:
        """Variables added to this interpreter's environment for the server."""
        return {}

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def launch(self) -> Self:
        """Start the process without waiting for it to answer (no-op if running)."""
        if self.running:
            return self
        self.stop()  # reap a crashed process and its group
        if self.cwd is not None:
            self.cwd.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = list(self._command())
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            log.write(f"\n=== {time.strftime('%H:%M:%S')} starting {self.name}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                command,
                cwd=self.cwd,
                env={**os.environ, **self._env()},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _LIVE.add(self)
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until it answers; if it exits or times out, kill it and raise ServerStartError."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                returncode = None if self.process is None else self.process.poll()
                if self.process is None or returncode is not None:
                    raise self._start_error(f"exited with code {returncode} while starting")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._start_error(f"did not become ready within {timeout:.0f} s")
                if self._ready(min(remaining, 3.0)):
                    return
                time.sleep(0.2)
        except BaseException:
            self.kill()
            raise

    def _start_error(self, what: str) -> ServerStartError:
        return ServerStartError(
            f"{self.name} {what}. Last lines of {self.log_path}:\n"
            f"{tail(self.log_path, start=self._log_offset)}"
        )

    def start(self, timeout: float = 60.0) -> Self:
        """Start (no-op if running) and wait until it answers."""
        if not self.running:
            self.launch().wait_ready(timeout)
        return self

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM the group, SIGKILL it after `timeout` s; the exit code. Idempotent."""
        proc = self.process
        self.stopped_gracefully = True
        if proc is None:
            return None
        if proc.poll() is None:
            kill_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.stopped_gracefully = False
                kill_group(proc.pid, signal.SIGKILL)
                proc.wait()
        self._forget()
        return proc.returncode

    def kill(self) -> None:
        """SIGKILL the process group now. Idempotent."""
        proc = self.process
        if proc is not None:
            kill_group(proc.pid, signal.SIGKILL)
            proc.wait()
        self.stopped_gracefully = False
        self._forget()

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """Stop the process group (SIGSTOP) and continue it on exit: a stall, like a long
        garbage-collection pause. Connections stay open; what clients send meanwhile is
        read, and answered, only after the stall."""
        proc = self.process
        if proc is None:
            raise ServerStartError(f"{self.name} is not running")
        kill_group(proc.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            kill_group(proc.pid, signal.SIGCONT)

    def _forget(self) -> None:
        self.process = None
        _LIVE.discard(self)

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log_path, lines)

    def __enter__(self) -> Self:
        return self.start()

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
