"""The consumer's side of the probe process (see ``probe_worker``): started on the first
request, asked with a hard deadline, killed when it misses it, restarted after a pause when it
died. Whatever happens to it, the caller gets an answer or ``ProbeUnavailable`` in time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NoReturn

from shopsys.management.operations.model import Group, GroupView, Offsets, OffsetsView, Unavailable
from shopsys.settings import KafkaSettings

logger = logging.getLogger(__name__)
WORKER = (sys.executable, "-m", "shopsys.management.operations.probe_worker")
START_ALLOWANCE_SECONDS = 10.0  # an interpreter start and the imports, on a busy 2-core node
# Beyond a request's timeout, before the process is killed: its reads stop at 0.8 of the timeout
# (probe_worker.READ_SHARE), so a slow Kafka gets an answer that says so, not a kill.
ANSWER_GRACE_SECONDS = 0.5
# What the probe process takes from the consumer's environment: how to start Python and find
# its packages and libraries, the locale, certificates, temporary files and how to log.
# Nothing else: that environment holds the MongoDB URI, the management token and maybe Kafka's
# password; the probe gets the Kafka configuration on stdin.
CHILD_ENV = frozenset(
    {"PATH", "PYTHONPATH", "PYTHONHOME", "LD_LIBRARY_PATH", "HOME", "TMPDIR", "TZ"}
    | {"LANG", "LANGUAGE", "SSL_CERT_FILE", "SSL_CERT_DIR"}
)
CHILD_ENV_PREFIXES = ("LC_", "SHOPSYS_LOG_")


def child_environment(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The probe process's environment: ``CHILD_ENV`` and ``CHILD_ENV_PREFIXES`` only."""
    return {
        name: value
        for name, value in environ.items()
        if name in CHILD_ENV or name.startswith(CHILD_ENV_PREFIXES)
    }


class ProbeUnavailable(Exception):
    """No answer from the probe process; the message says why, for the page."""


class ProbeProcess:
    """One child process speaking JSON lines, asked one request at a time."""

    def __init__(
        self,
        setup: dict[str, Any],
        *,
        command: Sequence[str] = WORKER,
        restart_after: float = 10.0,
        start_allowance: float = START_ALLOWANCE_SECONDS,
        grace: float = ANSWER_GRACE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._setup = setup
        self._start_allowance = start_allowance
        self._grace = grace
        self._command = list(command)
        self._restart_after = restart_after
        self._clock = clock
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._failed_at: float | None = None
        self._failure = ""
        self.started = 0  # how many processes were started, for tests and logs

    def ask(self, request: dict[str, Any], *, timeout: float) -> dict[str, Any]:
        with self._lock:
            deadline = self._clock() + timeout + self._grace
            process, fresh = self._running()
            if fresh:
                deadline += self._start_allowance
            answer = self._exchange(process, request, deadline)
            if isinstance(answer, str) and not fresh and process.returncode == 0:
                # It had just exited after idling: a new one answers.
                process, _ = self._running()
                answer = self._exchange(process, request, deadline + self._start_allowance)
            if isinstance(answer, str):
                self._fail(answer)
            self._failed_at = None
            return answer

    def close(self) -> None:
        with self._lock:
            if self._process is not None:
                self._stop(self._process, grace=2.0)
                self._process = None

    def _fail(self, reason: str) -> NoReturn:
        """No answer: the next process starts only after ``restart_after`` seconds."""
        self._failure, self._failed_at, self._process = reason, self._clock(), None
        logger.warning("operations page: %s", reason)
        raise ProbeUnavailable(reason)

    def _running(self) -> tuple[subprocess.Popen[bytes], bool]:
        process = self._process
        if process is not None and process.poll() is None:
            return process, False
        if self._failed_at is not None and self._clock() - self._failed_at < self._restart_after:
            raise ProbeUnavailable(f"{self._failure}; retrying within {self._restart_after:.0f}s")
        try:
            process = subprocess.Popen(
                self._command,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                close_fds=True,
                env=child_environment(),
            )
        except OSError as error:  # no executable, no file descriptors or memory left
            self._fail(f"the probe process could not start: {error}")
        self._process = process
        self.started += 1
        assert process.stdin is not None
        try:
            process.stdin.write(json.dumps(self._setup).encode() + b"\n")
            process.stdin.flush()
        except OSError:
            pass  # it died at once: the exchange sees it
        return process, True

    def _exchange(
        self, process: subprocess.Popen[bytes], request: dict[str, Any], deadline: float
    ) -> dict[str, Any] | str:
        """The answer, or why there is none."""
        assert process.stdin is not None
        assert process.stdout is not None
        try:
            process.stdin.write(json.dumps(request).encode() + b"\n")
            process.stdin.flush()
        except OSError:
            return _ended(process)
        fd = process.stdout.fileno()
        line = b""
        # Not select.select(): a server with many connections has descriptors above 1024.
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while not line.endswith(b"\n"):
                remaining = deadline - self._clock()
                if remaining <= 0 or not selector.select(remaining):
                    self._stop(process, grace=0)
                    return "no answer from Kafka in time"
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    return _ended(process)
                line += chunk
        try:
            answer = json.loads(line)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            self._stop(process, grace=0)
            return "the probe process answered something that is not an answer"
        return answer

    @staticmethod
    def _stop(process: subprocess.Popen[bytes], *, grace: float) -> None:
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _ended(process: subprocess.Popen[bytes]) -> str:
    """It closed its end: it is exiting, or will be made to."""
    ProbeProcess._stop(process, grace=2.0)
    code = process.returncode
    if code < 0:
        return f"the probe process died ({signal.Signals(-code).name})"
    return f"the probe process exited with status {code}"


class KafkaProbe:
    """Group-wide offsets and group membership; tests substitute a subclass."""

    def offsets(self, *, timeout: float) -> Offsets:
        raise NotImplementedError

    def group(self, *, timeout: float) -> Group:
        raise NotImplementedError

    def close(self) -> None:
        return None


class ProcessKafkaProbe(KafkaProbe):
    """Asks the probe process; every failure becomes ``Unavailable`` with its reason."""

    def __init__(self, kafka: KafkaSettings, *, timeout: float, idle_seconds: float = 60.0) -> None:
        self.process = ProbeProcess(
            {
                "config": kafka.client_config(),
                "topic": kafka.topic,
                "dlq_topic": kafka.dlq_topic,
                "group": kafka.consumer_group,
                "timeout": timeout,
                "idle_seconds": idle_seconds,
            }
        )

    def offsets(self, *, timeout: float) -> Offsets:
        answer = self._ask("offsets", timeout)
        return answer if isinstance(answer, Unavailable) else OffsetsView.model_validate(answer)

    def group(self, *, timeout: float) -> Group:
        answer = self._ask("group", timeout)
        return answer if isinstance(answer, Unavailable) else GroupView.model_validate(answer)

    def close(self) -> None:
        self.process.close()

    def _ask(self, read: str, timeout: float) -> dict[str, Any] | Unavailable:
        if timeout <= 0:
            return Unavailable(reason="no time left to ask Kafka")
        try:
            answer = self.process.ask({"read": read, "timeout": timeout}, timeout=timeout)
        except ProbeUnavailable as error:
            return Unavailable(reason=str(error))
        if "ok" not in answer:
            return Unavailable(reason=str(answer.get("error", "no answer")))
        ok: dict[str, Any] = answer["ok"]
        return ok
