"""A local Kafka of one or more combined broker+controller nodes, plaintext or in the
production shape (SASL_SSL with SCRAM-SHA-512 and ACLs, see ``kafka_security``).

Three nodes are three voters and three brokers: topics made by ``shopsys init`` get
replication factor 3 and ``min.insync.replicas`` 2, so one node may be lost.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Self

from shopsys.kafka.access import ROLES, Role, RoleUser, ensure_access
from shopsys.settings import KafkaSettings

from ..errors import ServerStartError
from ..ports import HOST, free_port
from .kafka_broker import DEFAULT_JVM_OPTIONS, ClusterNode, KafkaBroker, new_cluster_id
from .kafka_security import KafkaSecurity


def _ports(count: int) -> list[int]:
    taken: set[int] = set()
    for _ in range(count):
        taken.add(free_port(exclude=frozenset(taken)))
    return sorted(taken)


class KafkaCluster:
    def __init__(
        self,
        libs_dir: Path,
        work_dir: Path,
        *,
        brokers: int = 1,
        secured: bool = False,
        jvm_options: Sequence[str] = DEFAULT_JVM_OPTIONS,
    ) -> None:
        if brokers < 1:
            raise ValueError("a Kafka cluster needs at least one broker")
        self.work_dir = Path(work_dir).resolve()
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.security = KafkaSecurity.create(self.work_dir) if secured else None
        per_node = 3 if secured else 2
        ports = _ports(per_node * brokers)
        nodes = [ports[i * per_node : (i + 1) * per_node] for i in range(brokers)]
        voters = ",".join(f"{i + 1}@{HOST}:{node[1]}" for i, node in enumerate(nodes))
        cluster_id = new_cluster_id()
        self.role_users: dict[Role, RoleUser] = {}  # made by grant_roles
        self.brokers = [
            KafkaBroker(
                libs_dir,
                self.work_dir / f"node-{i + 1}",
                jvm_options=jvm_options,
                node=ClusterNode(
                    node_id=i + 1,
                    port=node[0],
                    controller_port=node[1],
                    internal_port=node[2] if secured else None,
                    voters=voters,
                    replicas=brokers,
                    cluster_id=cluster_id,
                    security=self.security,
                ),
            )
            for i, node in enumerate(nodes)
        ]

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(broker.bootstrap_servers for broker in self.brokers)

    @property
    def replication(self) -> tuple[int, int]:
        """The replication factor and min.insync.replicas of the topics: 3 and 2 from three
        brokers on, one copy below."""
        return (3, 2) if len(self.brokers) >= 3 else (1, 1)

    def settings(
        self, user: str | None = None, password: str | None = None, **fields: Any
    ) -> KafkaSettings:
        """Client settings for this cluster, as ``user`` when it is secured (default: the admin
        super user); ``fields`` set the rest (topic names, say)."""
        replicas, min_insync = self.replication
        fields = {
            "topic_replication_factor": replicas,
            "topic_min_insync_replicas": min_insync,
            **fields,
            "bootstrap_servers": self.bootstrap_servers,
        }
        if self.security is not None:
            name = user or "admin"
            secret = password if password is not None else self.security.passwords[name]
            fields.update(
                security_protocol="SASL_SSL",
                sasl_mechanism="SCRAM-SHA-512",
                sasl_username=name,
                sasl_password=secret,
                ssl_ca_location=str(self.security.ca_file),
            )
        return KafkaSettings(**fields)

    def role_settings(self, role: Role, **fields: Any) -> KafkaSettings:
        """Client settings of a role: its own user when secured (see ``grant_roles``)."""
        if self.security is None:
            return self.settings(**fields)
        user = self.role_users[role]
        return self.settings(user.name, user.password, **fields)

    def grant_roles(
        self, log: Callable[[str], None] = lambda _: None, **names: str
    ) -> dict[Role, RoleUser]:
        """Each role its own SCRAM user, with a new random password, and its ACLs on the
        topics and group ``names`` gives (``topic``, ``dlq_topic``, ``consumer_group``;
        the defaults otherwise)."""
        if self.security is None:
            return {}
        if not self.role_users:
            self.role_users = {role: RoleUser(role, secrets.token_hex(16)) for role in ROLES}
        ensure_access(self.settings(**names), self.role_users, log=log)
        return self.role_users

    def start(self, timeout: float = 120.0) -> Self:
        """Start every node at once (a quorum needs a majority of them), then wait until the
        brokers all answer and see each other."""
        for broker in self.brokers:
            if not broker.running:
                broker.launch()
        try:
            for broker in self.brokers:
                broker.wait_ready(timeout)
            self._wait_for_all(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_all(self, timeout: float) -> None:
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({**self.settings().client_config(), "log_level": 0})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if len(admin.list_topics(timeout=5).brokers) == len(self.brokers):
                    return
            except Exception:  # noqa: S110 - still starting
                pass
            time.sleep(0.5)
        raise ServerStartError(f"the {len(self.brokers)} brokers did not all join in time")

    def stop(self, brokers: Iterable[KafkaBroker] | None = None, timeout: float = 10.0) -> None:
        """Stop the nodes at once, each killed after ``timeout``: a node's controlled shutdown
        waits for a quorum that the others are leaving (Kafka recovers its logs on the next
        start either way)."""
        chosen = list(self.brokers if brokers is None else brokers)
        with ThreadPoolExecutor(max_workers=max(1, len(chosen))) as pool:
            list(pool.map(lambda broker: broker.stop(timeout), chosen))

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
