"""The production shape on this machine: three brokers (each a KRaft voter), SASL_SSL with
SCRAM-SHA-512, a user per role and ACLs, as ``shopsys dev --kafka-brokers 3 --kafka-security
sasl_ssl`` runs it. The brokers are tried as someone who wants in would, and the system runs
on them through the loss of a partition leader."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, ConfigResource  # type: ignore[attr-defined]
from pymongo import MongoClient

from shopsys.devtools.ports import HOST, free_port
from shopsys.devtools.provision.kafka_broker import KafkaBroker
from shopsys.devtools.provision.kafka_cluster import KafkaCluster
from shopsys.devtools.roles import kafka_environment, start_roles
from shopsys.settings import KafkaSettings
from tests.integration.consumer.checks import assert_final_state
from tests.integration.consumer.streaming import PurchaseStream
from tests.support.system import Isolation, RunningSystem, initialize_quietly, new_isolation

pytestmark = pytest.mark.integration

BROKERS = 3
SHOPSYS = Path(sys.executable).with_name("shopsys")
DOWN_SECONDS = 12


@pytest.fixture(scope="module")
def secured(kafka_libs: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    cluster = KafkaCluster(
        kafka_libs, tmp_path_factory.mktemp("kafka-secured"), brokers=BROKERS, secured=True
    )
    with cluster:
        yield cluster


@pytest.fixture(scope="module")
def names() -> Isolation:
    return new_isolation()


@pytest.fixture(scope="module")
def granted(secured: KafkaCluster, names: Isolation, mongodb_uri: str) -> KafkaCluster:
    """Users and ACLs for this module's topics and group, the topics made as the init user."""
    secured.grant_roles(
        topic=names.topic, dlq_topic=names.dlq_topic, consumer_group=names.consumer_group
    )
    initialize_quietly(_as(secured, "init", names), names.mongo_settings(mongodb_uri))
    return secured


def _as(cluster: KafkaCluster, role: str, names: Isolation) -> KafkaSettings:
    return cluster.role_settings(
        role,  # type: ignore[arg-type]
        topic=names.topic,
        dlq_topic=names.dlq_topic,
        consumer_group=names.consumer_group,
    )


def _quiet(config: dict[str, Any]) -> dict[str, Any]:
    return {**config, "log_level": 0, "error_cb": lambda _error: None}


def _produce_error(settings: KafkaSettings, topic: str) -> KafkaError | None:
    """What the broker answers to one message to ``topic`` from these settings."""
    outcome: list[KafkaError | None] = []
    producer = Producer(_quiet({**settings.client_config(), "message.timeout.ms": 15_000}))
    producer.produce(topic, b"{}", on_delivery=lambda error, _msg: outcome.append(error))
    producer.flush(20)
    assert outcome, "no delivery report within 20 s"
    return outcome[0]


def _consume_error(settings: KafkaSettings, topic: str, group: str) -> KafkaError | None:
    """The first error a consumer with these settings gets (None: it read without one)."""
    consumer = Consumer(
        _quiet({**settings.client_config(), "group.id": group, "auto.offset.reset": "earliest"})
    )
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None:
                return message.error()
        raise AssertionError(f"neither a message nor an error from {topic} within 20 s")
    finally:
        consumer.close()


def _refused(config: dict[str, Any]) -> list[KafkaError]:
    """Asking for metadata with ``config`` fails; the errors the client reported meanwhile."""
    errors: list[KafkaError] = []
    admin = AdminClient({**config, "log_level": 0, "error_cb": errors.append})
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=5)
    admin.poll(0.5)  # serves the error callbacks still queued
    return errors


def test_topics_have_three_replicas_and_need_two_in_sync(
    granted: KafkaCluster, names: Isolation
) -> None:
    admin = AdminClient(_quiet(granted.settings().client_config()))
    topic = admin.list_topics(names.topic, timeout=10).topics[names.topic]
    assert {len(p.replicas) for p in topic.partitions.values()} == {BROKERS}
    resource = ConfigResource(ConfigResource.Type.TOPIC, names.topic)
    configs = admin.describe_configs([resource])[resource].result(timeout=10)
    assert configs["min.insync.replicas"].value == "2"
    assert configs["unclean.leader.election.enable"].value == "false"


def test_the_brokers_let_in_only_known_users(granted: KafkaCluster, names: Isolation) -> None:
    security = granted.security
    assert security is not None
    plaintext = {"bootstrap.servers": granted.bootstrap_servers, "security.protocol": "PLAINTEXT"}
    _refused(plaintext)  # the client listener speaks TLS only
    tls_without_user = {
        "bootstrap.servers": granted.bootstrap_servers,
        "security.protocol": "SSL",
        "ssl.ca.location": str(security.ca_file),
    }
    _refused(tls_without_user)  # TLS, but no SASL: the handshake is refused
    web = _as(granted, "web", names)
    wrong = {**web.client_config(), "sasl.password": "not-the-password"}
    reported = _refused(wrong)
    assert any(e.code() == KafkaError._AUTHENTICATION for e in reported), reported


def test_each_role_may_do_its_part_and_nothing_more(
    granted: KafkaCluster, names: Isolation
) -> None:
    web, consumer = _as(granted, "web", names), _as(granted, "consumer", names)
    keda = _as(granted, "keda", names)
    denied_topic = KafkaError.TOPIC_AUTHORIZATION_FAILED

    assert _produce_error(web, names.topic) is None  # web writes purchases
    assert _consume_error(consumer, names.topic, names.consumer_group) is None  # consumer reads

    refused = {
        "web writes the dead-letter topic": _produce_error(web, names.dlq_topic),
        "consumer writes purchases": _produce_error(consumer, names.topic),
        "keda writes purchases": _produce_error(keda, names.topic),
    }
    assert {what: e and e.code() for what, e in refused.items()} == dict.fromkeys(
        refused, denied_topic
    )
    reading = {
        "web reads purchases": _consume_error(web, names.topic, names.consumer_group),
        "keda reads purchases": _consume_error(keda, names.topic, names.consumer_group),
        "consumer reads in another group": _consume_error(
            consumer, names.topic, f"other-{uuid.uuid4().hex[:6]}"
        ),
    }
    codes = {what: e and e.code() for what, e in reading.items()}
    authorization = {denied_topic, KafkaError.GROUP_AUTHORIZATION_FAILED}
    assert all(code in authorization for code in codes.values()), codes


def test_the_kafka_access_command_sets_each_role_up_as_the_admin(
    granted: KafkaCluster, names: Isolation, tmp_path: Path
) -> None:
    """What the chart's init Job runs first: `shopsys kafka-access` as the admin, with the
    role users from files. A role then gets in with its password, and only to its part; run
    again with a new password, it rotates it."""
    run = uuid.uuid4().hex[:6]
    users = {
        role: (f"{role}-{run}", uuid.uuid4().hex) for role in ("web", "consumer", "keda", "init")
    }

    def kafka_access() -> subprocess.CompletedProcess[str]:
        for role, (name, password) in users.items():
            (tmp_path / f"{role}-username").write_text(name)
            (tmp_path / f"{role}-password").write_text(password)
        admin = granted.settings(
            topic=names.topic, dlq_topic=names.dlq_topic, consumer_group=names.consumer_group
        )
        env = {**os.environ, **kafka_environment(admin), "SHOPSYS_KAFKA_TOPIC": names.topic}
        env |= {
            "SHOPSYS_KAFKA_DLQ_TOPIC": names.dlq_topic,
            "SHOPSYS_KAFKA_CONSUMER_GROUP": names.consumer_group,
        }
        return subprocess.run(
            [SHOPSYS, "kafka-access", "--users-dir", str(tmp_path), "--timeout", "60"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    done = kafka_access()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "kafka access complete" in done.stdout
    name, password = users["web"]
    web = granted.settings(name, password, topic=names.topic)
    assert _produce_error(web, names.topic) is None
    refused = _produce_error(web, names.dlq_topic)
    assert refused is not None
    assert refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED

    users["web"] = (name, uuid.uuid4().hex)  # rotated
    done = kafka_access()
    assert done.returncode == 0, done.stdout + done.stderr
    assert any(e.code() == KafkaError._AUTHENTICATION for e in _refused(web.client_config()))
    assert _produce_error(granted.settings(*users["web"], topic=names.topic), names.topic) is None


def _leader_of_most(cluster: KafkaCluster, topic: str) -> KafkaBroker:
    admin = AdminClient(_quiet(cluster.settings().client_config()))
    partitions = admin.list_topics(topic, timeout=10).topics[topic].partitions.values()
    most, _count = Counter(p.leader for p in partitions).most_common(1)[0]
    return cluster.brokers[most - 1]  # node ids are 1..N in order


def test_a_partition_leader_killed_mid_stream_loses_nothing(
    granted: KafkaCluster, names: Isolation, mongodb_uri: str, tmp_path: Path
) -> None:
    """The broker that leads most partitions is killed (SIGKILL) a third into a stream and
    comes back 12 s later; every purchase answered 202 is stored once, and purchases keep
    being accepted while it is away (two in-sync replicas are left)."""
    web_port, management_port = free_port(), free_port()
    web, consumer = start_roles(
        kafka_bootstrap=granted.bootstrap_servers,
        mongodb_uri=mongodb_uri,
        web_port=web_port,
        management_port=management_port,
        log_dir=tmp_path / "logs",
        extra_env=names.environment(),
        web_env=kafka_environment(_as(granted, "web", names)),
        consumer_env=kafka_environment(_as(granted, "consumer", names)),
    )
    system = RunningSystem(
        web, consumer, f"http://{HOST}:{web_port}", f"http://{HOST}:{management_port}"
    )
    database: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri)
    try:
        stream = PurchaseStream(system.web_url, 1_800, rate=120.0, catalog_only=True).start()
        stream.wait_for(500)
        victim = _leader_of_most(granted, names.topic)
        before = len(stream.accepted)
        victim.kill()
        killed = time.monotonic()
        time.sleep(DOWN_SECONDS)
        while_down = len(stream.accepted) - before
        victim.start()
        accepted = stream.join()
        print(
            f"\n[leader loss] {stream.summary()}; accepted while the leader was away "
            f"({DOWN_SECONDS} s): {while_down} ({while_down / DOWN_SECONDS:.0f}/s); "
            f"back after {time.monotonic() - killed:.0f} s"
        )
        assert while_down > 0, "no purchase was accepted with two of three brokers up"
        assert set(stream.statuses) <= {"202", "503"}, stream.statuses
        assert_final_state(
            "leader loss",
            database[names.database],
            accepted,
            set(),
            consumers=[system.management_url],
        )
    finally:
        for role in reversed(system.all_roles()):
            role.stop()
        database.drop_database(names.database)
        database.close()
