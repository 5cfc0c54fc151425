"""The bundled Kafka from inside the cluster: its command-line tools run in a node as the
broker user (a super user), what an operator does with `kubectl exec`; and clients of each
role's user, run in a consumer pod (the only place the NetworkPolicies let a client reach the
brokers from)."""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from typing import Any

from .kubectl import Kubectl
from .scaling import Release, get_json, is_ready, pods

# start.sh writes the node's client settings (the broker user, the CA) for its probe and tools.
TOOL = (
    'exec "/opt/kafka/bin/$0" --bootstrap-server "$HOSTNAME.$HEADLESS_DOMAIN:9092" '
    '--command-config /tmp/shopsys-kafka/client.properties "$@"'
)
LEADER = re.compile(r"Partition: (\d+)\s+Leader: (-?\d+)")


def kafka_node(release: Release, ordinal: int) -> str:
    return f"{release.fullname}-kafka-{ordinal}"


def kafka_tool(
    kubectl: Kubectl, release: Release, tool: str, *args: str, node: int = 0, timeout: float = 120
) -> str:
    """`tool` (e.g. kafka-topics.sh) with `args`, against the node's own client listener."""
    return kubectl(
        "-n",
        release.namespace,
        "exec",
        kafka_node(release, node),
        "--",
        "env",
        "KAFKA_HEAP_OPTS=-Xmx128m",
        "bash",
        "-c",
        TOOL,
        tool,
        *args,
        timeout=timeout,
    )


def partition_leaders(
    kubectl: Kubectl, release: Release, topic: str, node: int = 0
) -> dict[int, int]:
    """Partition -> the node id leading it (-1: none)."""
    out = kafka_tool(kubectl, release, "kafka-topics.sh", "--describe", "--topic", topic, node=node)
    return {int(p): int(leader) for p, leader in LEADER.findall(out)}


def busiest_leader(leaders: dict[int, int]) -> int:
    """The node leading the most partitions."""
    return Counter(leader for leader in leaders.values() if leader >= 0).most_common(1)[0][0]


# Runs in the consumer pod, with its SHOPSYS_KAFKA_* settings and confluent-kafka: each
# attempt (JSON on argv) gets the error codes the client reported, or "ok".
ATTEMPT = r"""
import json, os, sys
from confluent_kafka import Consumer, KafkaException, Producer
from confluent_kafka.admin import AdminClient

def base(protocol, user=None, password=None):
    config = {"bootstrap.servers": os.environ["SHOPSYS_KAFKA_BOOTSTRAP_SERVERS"],
              "security.protocol": protocol, "log_level": 0}
    if protocol != "PLAINTEXT":
        config["ssl.ca.location"] = os.environ["SHOPSYS_KAFKA_SSL_CA_LOCATION"]
    if user is not None:
        config.update({"sasl.mechanism": "SCRAM-SHA-512", "sasl.username": user,
                       "sasl.password": password})
    return config

def connect(config):
    errors = []
    admin = AdminClient({**config, "error_cb": lambda e: errors.append(e.name())})
    try:
        admin.list_topics(timeout=8)
        return "ok"
    except KafkaException:
        admin.poll(0.5)
        return sorted(set(errors)) or ["refused"]

def produce(config, topic):
    outcome = []
    producer = Producer({**config, "message.timeout.ms": 10000, "error_cb": lambda e: None})
    producer.produce(topic, b"{}", on_delivery=lambda e, m: outcome.append(e))
    producer.flush(15)
    return outcome[0].name() if outcome and outcome[0] else ("ok" if outcome else "no report")

def consume(config, topic, group):
    consumer = Consumer({**config, "group.id": group, "auto.offset.reset": "earliest",
                         "error_cb": lambda e: None})
    consumer.subscribe([topic])
    try:
        for _ in range(20):
            message = consumer.poll(0.5)
            if message is not None and message.error():
                return message.error().name()
        return "ok"
    finally:
        consumer.close()

kinds = {"connect": connect, "produce": produce, "consume": consume}
results = {}
for name, kind, config, args in json.loads(sys.argv[1]):
    results[name] = kinds[kind](base(*config), *args)
print(json.dumps(results))
"""


def role_credentials(kubectl: Kubectl, release: Release, role: str) -> tuple[str, str]:
    """The SCRAM user and password of a role, from the chart's users Secret."""
    secret = get_json(
        kubectl, "-n", release.namespace, "get", "secret", f"{release.fullname}-kafka-users"
    )
    data = secret["data"]
    return (
        base64.b64decode(data[f"{role}-username"]).decode(),
        base64.b64decode(data[f"{role}-password"]).decode(),
    )


def client_attempts(
    kubectl: Kubectl, release: Release, attempts: list[tuple[str, str, list[Any], list[str]]]
) -> dict[str, Any]:
    """Each attempt (name, "connect"/"produce"/"consume", [protocol, user, password], args)
    made from a consumer pod: "ok" or the error codes the client reported, by name."""
    pod = next(p for p in pods(kubectl, release.namespace, release.consumer) if is_ready(p))
    out = kubectl(
        "-n",
        release.namespace,
        "exec",
        pod["metadata"]["name"],
        "-c",
        "consumer",
        "--",
        "python",
        "-c",
        ATTEMPT,
        json.dumps(attempts),
        timeout=240,
    )
    results: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return results
