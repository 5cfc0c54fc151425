"""A single-node Apache Kafka (KRaft, combined broker + controller) on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from ..errors import ServerStartError
from ..ports import HOST, free_port, port_open
from ..process import ManagedProcess
from .artifacts import copy_resource
from .build import no_progress, run_step
from .kafka_security import KafkaSecurity
from .toolchain import java_version_output, require_java

DEFAULT_JVM_OPTIONS: tuple[str, ...] = (
    "-Xmx512m",
    "-Xms128m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)
# As a broker serving real traffic runs: C2 compiles the hot paths once warm, which C1 alone
# never does (about a third less CPU per produce request, measured by the benchmarks).
SERVER_JVM_OPTIONS: tuple[str, ...] = tuple(
    option for option in DEFAULT_JVM_OPTIONS if not option.startswith("-XX:TieredStopAtLevel")
)


def kafka_server_properties(
    *,
    port: int,
    controller_port: int,
    data_dir: Path,
    node_id: int = 1,
    voters: str | None = None,
    replicas: int = 1,
    security: KafkaSecurity | None = None,
    internal_port: int | None = None,
    extra: Mapping[str, str] | None = None,
) -> str:
    """server.properties for one combined broker+controller node on 127.0.0.1.

    Static quorum (`controller.quorum.voters`: this node alone unless `voters` names them
    all), internal topics replicated `replicas` times (min ISR 2 from 3 nodes on), no
    rebalance delay, no automatic topic creation: tests and `shopsys init` create topics.
    With `security`, clients and brokers speak SASL_SSL with SCRAM-SHA-512 (brokers on a
    listener of their own, `internal_port`), the controllers PLAIN over TLS, and the
    StandardAuthorizer denies whatever no ACL allows.
    """
    min_isr = "2" if replicas >= 3 else "1"
    props: dict[str, str] = {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "controller.quorum.voters": voters or f"{node_id}@{HOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        "default.replication.factor": str(replicas),
        "min.insync.replicas": min_isr,
        "unclean.leader.election.enable": "false",
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": str(replicas),
        "offsets.topic.num.partitions": "5",
        "transaction.state.log.replication.factor": str(replicas),
        "transaction.state.log.min.isr": min_isr,
        "transaction.state.log.num.partitions": "5",
        "share.coordinator.state.topic.replication.factor": str(replicas),
        "share.coordinator.state.topic.min.isr": min_isr,
        "group.initial.rebalance.delay.ms": "0",
        # A restart after kill() must not wait out the dead incarnation's session (9 s default).
        "broker.session.timeout.ms": "4000",
        "broker.heartbeat.interval.ms": "500",
        "num.recovery.threads.per.data.dir": "2",
    }
    if security is not None:
        if internal_port is None:
            raise ValueError("a secured node needs an internal (inter-broker) port")
        props.update(security.node_properties(port, internal_port, controller_port))
    props.update(extra or {})
    return "".join(f"{key}={value}\n" for key, value in props.items())


@dataclass(frozen=True)
class ClusterNode:
    """One node of a local cluster: its id and ports, and what all nodes share."""

    node_id: int
    port: int
    controller_port: int
    internal_port: int | None  # the brokers' own listener, when secured
    voters: str  # every node's id@host:controller_port
    replicas: int  # how many nodes the cluster has
    cluster_id: str
    security: KafkaSecurity | None


def new_cluster_id() -> str:
    """A random Kafka cluster id (URL-safe base64 of 16 bytes, no padding).

    Like Kafka's own `Uuid.randomUuid()`, it never starts with "-": command-line parsers,
    kafka-storage's included, would read such an id as an option.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class KafkaBroker(ManagedProcess):
    """Kafka broker on free 127.0.0.1 ports chosen at construction; data in `work_dir/data`.

    The JVM runs C1-only (`-XX:TieredStopAtLevel=1`) with a class-data-sharing archive kept
    next to the cached jars (written by the first cleanly stopped broker): on 2 cores this
    cuts a (re)start from ~9 s to ~2-3 s. Pass `jvm_options` to override the defaults.
    """

    name = "Kafka broker"

    def __init__(
        self,
        libs_dir: Path,
        work_dir: Path,
        *,
        jvm_options: Sequence[str] = DEFAULT_JVM_OPTIONS,
        class_data_sharing: bool = True,
        extra_properties: Mapping[str, str] | None = None,
        node: ClusterNode | None = None,
    ) -> None:
        self.work_dir = Path(work_dir).resolve()
        super().__init__(self.work_dir / "kafka.log", cwd=self.work_dir)
        self.libs_dir = Path(libs_dir).resolve()
        self.jvm_options = tuple(jvm_options)
        self.class_data_sharing = class_data_sharing
        self.node = node
        if node is None:
            self.port = free_port()
            self.controller_port = free_port(exclude=frozenset({self.port}))
        else:
            self.port, self.controller_port = node.port, node.controller_port
            self.name = f"Kafka broker {node.node_id}"
        self.data_dir = self.work_dir / "data"
        self.properties_path = self.work_dir / "server.properties"
        self._extra = dict(extra_properties or {})
        self._admin: Any = None
        self._cds_dump: tuple[Path, Path] | None = None  # (being written, final)

    @property
    def bootstrap_servers(self) -> str:
        return f"{HOST}:{self.port}"

    def _properties(self) -> str:
        node = self.node
        if node is None:
            return kafka_server_properties(
                port=self.port,
                controller_port=self.controller_port,
                data_dir=self.data_dir,
                extra=self._extra,
            )
        return kafka_server_properties(
            port=self.port,
            controller_port=self.controller_port,
            data_dir=self.data_dir,
            node_id=node.node_id,
            voters=node.voters,
            replicas=node.replicas,
            security=node.security,
            internal_port=node.internal_port,
            extra=self._extra,
        )

    def _admin_config(self) -> dict[str, Any]:
        """How the readiness check connects: as the admin super user when secured."""
        config: dict[str, Any] = {"bootstrap.servers": self.bootstrap_servers, "log_level": 0}
        security = None if self.node is None else self.node.security
        if security is not None:
            config.update(security.client_config("admin", security.passwords["admin"]))
        return config

    def _java(self, java: str, *options: str) -> list[str]:
        return [
            java,
            *self.jvm_options,
            *options,
            f"-Dlog4j2.configurationFile={self.work_dir / 'log4j2.xml'}",
            "-cp",
            f"{self.libs_dir}/*",
        ]

    def _cds_options(self, java: str) -> list[str]:
        """Use the shared class archive, or record one at exit when there is none yet."""
        self._cds_dump = None
        if not self.class_data_sharing:
            return []
        key = hashlib.sha256(f"{java}\0{java_version_output(java)}".encode()).hexdigest()[:12]
        cds_dir = self.libs_dir.parent / "cds"
        archive = cds_dir / f"kafka-{key}.jsa"
        if archive.is_file():
            return ["-Xlog:cds*=off", f"-XX:SharedArchiveFile={archive}"]
        try:
            cds_dir.mkdir(exist_ok=True)
        except OSError:
            return []
        if not os.access(cds_dir, os.W_OK):
            return []
        partial = cds_dir / f".kafka-{key}.{os.getpid()}.{self.port}.jsa.tmp"
        self._cds_dump = (partial, archive)
        return ["-Xlog:cds*=off", f"-XX:ArchiveClassesAtExit={partial}"]

    def _command(self) -> Sequence[str]:
        java = require_java()
        if not any(self.libs_dir.glob("kafka_*.jar")):
            raise ServerStartError(f"no Kafka jars in {self.libs_dir} (run ensure_kafka first)")
        copy_resource(("kafka_config", "log4j2.xml"), self.work_dir / "log4j2.xml")
        self.properties_path.write_text(self._properties())
        if not (self.data_dir / "meta.properties").exists():
            node, security = self.node, None if self.node is None else self.node.security
            run_step(
                [
                    *self._java(java),
                    "kafka.tools.StorageTool",
                    "format",
                    f"--cluster-id={new_cluster_id() if node is None else node.cluster_id}",
                    "--config",
                    str(self.properties_path),
                    "--ignore-formatted",
                    *([] if security is None else security.format_arguments()),
                ],
                label="formatting the Kafka storage",
                log_path=self.log_path,
                progress=no_progress,
                timeout=120,
            )
        self._admin = None
        jvm = self._java(java, *self._cds_options(java))
        return [*jvm, "kafka.Kafka", str(self.properties_path)]

    def _ready(self, timeout: float) -> bool:
        if not port_open(self.port):
            return False
        from confluent_kafka.admin import AdminClient

        if self._admin is None:
            # log_level 0: no "connection refused" noise while the broker starts
            self._admin = AdminClient(self._admin_config())
        try:
            metadata = self._admin.list_topics(timeout=timeout)
        except Exception:
            return False
        return bool(metadata.brokers)

    def start(self, timeout: float = 90.0) -> Self:
        """Start (formatting the storage on first start) and wait for a metadata answer."""
        try:
            return super().start(timeout)
        finally:
            self._admin = None

    def _forget(self) -> None:
        super()._forget()
        self._finish_cds_dump()

    def _finish_cds_dump(self) -> None:
        self._admin = None
        if self._cds_dump is None:
            return
        partial, archive = self._cds_dump
        self._cds_dump = None
        try:
            if self.stopped_gracefully and partial.is_file() and partial.stat().st_size > 0:
                os.replace(partial, archive)
            else:
                partial.unlink(missing_ok=True)
        except OSError:
            pass
