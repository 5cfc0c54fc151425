"""The bundled Kafka's front door, tried from inside a consumer pod (the only place the
NetworkPolicies let a client reach the brokers from) as someone who wants in: every refusal is
the broker's, reported by the client, and the system keeps working through all of it."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest

from .cluster import ClusterInfo
from .kubectl import Kubectl
from .scaling import Release, eventually, forget_purchases, get_json, pods, stored_ids

pytestmark = pytest.mark.cluster

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


def _user(kubectl: Kubectl, release: Release, user: str) -> tuple[str, str]:
    secret = get_json(
        kubectl, "-n", release.namespace, "get", "secret", f"{release.fullname}-kafka-users"
    )
    data = secret["data"]
    return (
        base64.b64decode(data[f"{user}-username"]).decode(),
        base64.b64decode(data[f"{user}-password"]).decode(),
    )


def test_the_brokers_let_each_role_do_its_part_and_nothing_more(
    cluster: ClusterInfo, kubectl: Kubectl, mongodb: Any
) -> None:
    release = Release.of(cluster)
    web, consumer = _user(kubectl, release, "web"), _user(kubectl, release, "consumer")
    group = f"intruder-{uuid.uuid4().hex[:6]}"
    attempts: list[tuple[str, str, list[Any], list[str]]] = [
        ("plaintext to the TLS listener", "connect", ["PLAINTEXT"], []),
        ("TLS without a user", "connect", ["SSL"], []),
        ("a wrong password", "connect", ["SASL_SSL", web[0], "not-the-password"], []),
        ("an unknown user", "connect", ["SASL_SSL", "mallory", web[1]], []),
        ("web writes purchases", "produce", ["SASL_SSL", *web], ["purchases"]),
        ("web writes the dead-letter topic", "produce", ["SASL_SSL", *web], ["purchases.dlq"]),
        ("web reads purchases", "consume", ["SASL_SSL", *web], ["purchases", group]),
        ("consumer writes purchases", "produce", ["SASL_SSL", *consumer], ["purchases"]),
        ("consumer reads another group", "consume", ["SASL_SSL", *consumer], ["purchases", group]),
    ]
    pod = pods(kubectl, release.namespace, release.consumer)[0]["metadata"]["name"]
    out = kubectl(
        "-n",
        release.namespace,
        "exec",
        pod,
        "-c",
        "consumer",
        "--",
        "python",
        "-c",
        ATTEMPT,
        json.dumps(attempts),
        timeout=240,
    )
    results = json.loads(out.strip().splitlines()[-1])
    print(json.dumps(results, indent=1))
    assert results["web writes purchases"] == "ok"
    for refused in ("plaintext to the TLS listener", "TLS without a user"):
        assert results[refused] != "ok", refused
    for wrong in ("a wrong password", "an unknown user"):
        assert "_AUTHENTICATION" in results[wrong], (wrong, results[wrong])
    for denied in ("web writes the dead-letter topic", "consumer writes purchases"):
        assert results[denied] == "TOPIC_AUTHORIZATION_FAILED", (denied, results[denied])
    for denied in ("web reads purchases", "consumer reads another group"):
        assert results[denied] in {"TOPIC_AUTHORIZATION_FAILED", "GROUP_AUTHORIZATION_FAILED"}

    users = f"acl-{uuid.uuid4().hex[:6]}"
    answer = httpx.post(
        f"{cluster.web}/api/v1/purchases",
        json={"user_id": f"{users}-1", "product_id": "p-001"},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    stored = eventually(
        lambda: stored_ids(mongodb, users) or None, timeout=120, what="a purchase after it all"
    )
    assert stored == [answer.json()["purchase_id"]]
    forget_purchases(mongodb, users)
