"""``shopsys dev``: the whole system on 127.0.0.1, without Kubernetes.

Starts the provisioned Kafka broker and MongoDB-wire server, runs ``init``, then both roles
as ``shopsys serve-web`` / ``shopsys serve-consumer`` subprocesses, exactly as production.
The same ``RoleProcess`` runs the roles in the end-to-end, fault and benchmark tests.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from shopsys.initialize import initialize
from shopsys.settings import KafkaSettings, MongoSettings

from .ports import HOST, port_is_free
from .provision import FerretDBServer, KafkaBroker, default_cache_dir, provision_all
from .roles import RoleProcess, start_roles


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
    say = say or _say

    for port, flag in ((web_port, "--web-port"), (management_port, "--management-port")):
        if not port_is_free(port):
            raise RuntimeError(f"port {port} on {HOST} is in use; choose another with {flag}")
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
            say(f"web=http://{HOST}:{web_port}")
            say(f"management=http://{HOST}:{management_port}")
            say(f"kafka={broker.bootstrap_servers}")
            say(f"mongodb={database.uri}")
            say(f"logs={root / 'logs'}")
            say("running; press Ctrl-C to stop everything")
            while not stop.wait(0.5):
                dead = [role.name for role in roles if not role.running]
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
