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
from typing import Literal

from shopsys.initialize import initialize
from shopsys.settings import MongoSettings

from .ports import HOST, port_is_free
from .provision import FerretDBServer, default_cache_dir, provision_all
from .provision.kafka_cluster import KafkaCluster
from .roles import RoleProcess, kafka_environment, start_roles

KafkaSecurityChoice = Literal["plaintext", "sasl_ssl"]


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
    kafka_brokers: int = 1,
    kafka_security: KafkaSecurityChoice = "plaintext",
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
    kafka = KafkaCluster(
        provisioned.kafka_libs,
        root / "kafka",
        brokers=kafka_brokers,
        secured=kafka_security == "sasl_ssl",
    )
    database = FerretDBServer(provisioned.ferretdb, root / "mongodb")
    roles: tuple[RoleProcess, ...] = ()
    # The handlers stay for the cleanup too: a second Ctrl-C must not cut it short and
    # leave the servers running without their parent.
    with _stop_signals() as stop:
        try:
            shape = f"{kafka_brokers} broker{'s' if kafka_brokers > 1 else ''}, {kafka_security}"
            say(f"starting Kafka ({shape}) and the MongoDB-wire server (FerretDB)...")
            kafka.start()
            database.start()
            kafka.grant_roles(log=say)
            initialize(
                kafka.role_settings("init"),
                MongoSettings(uri=database.uri),
                timeout=60,
                log=say,
            )
            say("starting serve-consumer and serve-web...")
            roles = start_roles(
                kafka_bootstrap=kafka.bootstrap_servers,
                mongodb_uri=database.uri,
                web_port=web_port,
                management_port=management_port,
                log_dir=root / "logs",
                web_env=kafka_environment(kafka.role_settings("web")),
                consumer_env=kafka_environment(kafka.role_settings("consumer")),
            )
            say(f"web=http://{HOST}:{web_port}")
            say(f"management=http://{HOST}:{management_port}")
            say(f"kafka={kafka.bootstrap_servers}")
            if kafka.security is not None:
                admin = kafka.security.write_admin_properties(root / "kafka" / "admin.properties")
                say(f"kafka CA={kafka.security.ca_file}; users: {', '.join(kafka.role_users)}")
                say(f"kafka admin client properties={admin}")
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
            kafka.stop()
            if temporary:
                shutil.rmtree(root, ignore_errors=True)
