"""The bundled Kafka's front door, tried from inside a consumer pod (the only place the
NetworkPolicies let a client reach the brokers from) as someone who wants in: every refusal is
the broker's, reported by the client, and the system keeps working through all of it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from .kit.cluster import ClusterInfo
from .kit.kafka_tools import client_attempts, role_credentials
from .kit.kubectl import Kubectl
from .kit.scaling import Release, eventually, stored_ids

pytestmark = pytest.mark.cluster


def test_the_brokers_let_each_role_do_its_part_and_nothing_more(
    cluster: ClusterInfo, kubectl: Kubectl, mongodb: Any, run_users: Callable[[str], str]
) -> None:
    release = Release.of(cluster)
    web = role_credentials(kubectl, release, "web")
    consumer = role_credentials(kubectl, release, "consumer")
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
    results = client_attempts(kubectl, release, attempts)
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

    users = run_users("acl")
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
