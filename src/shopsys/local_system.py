"""``shopsys dev``: the whole system on 127.0.0.1, without Kubernetes.

Starts the provisioned Kafka broker and MongoDB-wire server, runs ``init``, then both roles
as ``shopsys serve-web`` / ``shopsys serve-consumer`` subprocesses, exactly as production.
The same ``RoleProcess`` runs the roles in the end-to-end and fault tests.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

import httpx

from shopsys.initialize import initialize
from shopsys.settings import KafkaSettings, MongoSettings


def shopsys_command() -> list[str]:
    """The ``shopsys`` console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("shopsys")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "shopsys"]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class RoleProcess:
    """One ``shopsys`` role (or another server) as a subprocess, with its log in a file."""

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        ready_url: str,
        command: Sequence[str] | None = None,  # default: the shopsys console script
    ) -> None:
        self.name = name
        self.command = list(command) if command is not None else shopsys_command()
        self.args = list(args)
        self.env = dict(env)
        self.log_path = log_path
        self.ready_url = ready_url
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> RoleProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [*self.command, *self.args],
            env={**os.environ, **self.env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.ready_url, timeout=2.0).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} was not ready within {timeout:.0f}s:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM and wait; SIGKILL if it does not exit in time. Returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_log()
        return self.process.returncode

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def role_environment(kafka_bootstrap: str, mongodb_uri: str, management_url: str) -> dict[str, str]:
    return {
        "SHOPSYS_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "SHOPSYS_MONGODB_URI": mongodb_uri,
        "SHOPSYS_MANAGEMENT_API_URL": management_url,
    }


def start_roles(
    *,
    kafka_bootstrap: str,
    mongodb_uri: str,
    web_port: int,
    management_port: int,
    log_dir: Path,
    extra_env: Mapping[str, str] | None = None,
) -> tuple[RoleProcess, RoleProcess]:
    """Start serve-consumer then serve-web on 127.0.0.1 and wait until both answer."""
    management_url = f"http://127.0.0.1:{management_port}"
    env = {**role_environment(kafka_bootstrap, mongodb_uri, management_url), **(extra_env or {})}
    consumer = RoleProcess(
        "serve-consumer",
        ["serve-consumer", "--host", "127.0.0.1", "--port", str(management_port)],
        env,
        log_dir / "consumer.log",
        f"{management_url}/readyz",
    ).start()
    web = RoleProcess(
        "serve-web",
        ["serve-web", "--host", "127.0.0.1", "--port", str(web_port)],
        env,
        log_dir / "web.log",
        f"http://127.0.0.1:{web_port}/readyz",
    ).start()
    try:
        consumer.wait_ready()
        web.wait_ready()
    except RuntimeError:
        web.stop(10)
        consumer.stop(10)
        raise
    return web, consumer


@contextlib.contextmanager
def _stop_signals() -> Iterator[threading.Event]:
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _say(message: str) -> None:
    print(message, flush=True)


def run_local_system(
    *,
    web_port: int,
    management_port: int,
    data_dir: Path | None,
    cache_dir: Path | None,
    say: Callable[[str], None] | None = None,
) -> None:
    from shopsys.provision import FerretDBServer, KafkaBroker, default_cache_dir, provision_all

    say = say or _say

    for port, flag in ((web_port, "--web-port"), (management_port, "--management-port")):
        if not port_is_free(port):
            raise RuntimeError(f"port {port} on 127.0.0.1 is in use; choose another with {flag}")
    provisioned = provision_all(cache_dir or default_cache_dir(), say, include_helm=False)
    temporary = data_dir is None
    root = Path(tempfile.mkdtemp(prefix="shopsys-dev-")) if data_dir is None else data_dir
    root.mkdir(parents=True, exist_ok=True)
    broker = KafkaBroker(provisioned.kafka_libs, root / "kafka")
    database = FerretDBServer(provisioned.ferretdb, root / "mongodb")
    roles: tuple[RoleProcess, ...] = ()
    try:
        with _stop_signals() as stop:
            say("starting Kafka and the MongoDB-wire server (FerretDB)...")
            broker.start()
            database.start()
            initialize(
                KafkaSettings(bootstrap_servers=broker.bootstrap_servers),
                MongoSettings(uri=database.uri),
                timeout=60,
                log=say,
            )
            say("starting serve-consumer and serve-web...")
            roles = start_roles(
                kafka_bootstrap=broker.bootstrap_servers,
                mongodb_uri=database.uri,
                web_port=web_port,
                management_port=management_port,
                log_dir=root / "logs",
            )
            say(f"web=http://127.0.0.1:{web_port}")
            say(f"management=http://127.0.0.1:{management_port}")
            say(f"kafka={broker.bootstrap_servers}")
            say(f"mongodb={database.uri}")
            say(f"logs={root / 'logs'}")
            say("running; press Ctrl-C to stop everything")
            while not stop.wait(0.5):
                dead = [role.name for role in roles if not role.alive()]
                if dead:
                    raise RuntimeError(f"{', '.join(dead)} exited; see the logs in {root / 'logs'}")
            say("stopping...")
    finally:
        for role in roles:
            role.stop()
        database.stop()
        broker.stop()
        if temporary:
            shutil.rmtree(root, ignore_errors=True)
