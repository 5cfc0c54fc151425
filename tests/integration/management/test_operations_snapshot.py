"""The operations page's JSON snapshot against the real broker and database: two consumer
processes in one group, purchases through the web role, and what each replica reports."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from shopsys.devtools.provision import KafkaBroker
from shopsys.management.operations.probe import START_ALLOWANCE_SECONDS
from shopsys.settings import KafkaSettings
from tests.integration.consumer.checks import management_url
from tests.support.polling import eventually
from tests.support.system import Isolation

pytestmark = pytest.mark.integration

PURCHASES = 40
OPS_ENV = {"SHOPSYS_OPS_CACHE_SECONDS": "0"}  # every read is a fresh snapshot


def _snapshot(base_url: str) -> dict[str, Any]:
    response = httpx.get(f"{base_url}/api/v1/operations", timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def _both_members_share_every_partition(base_url: str, partitions: int, seen: list[Any]) -> Any:
    snapshot = _snapshot(base_url)
    seen[:] = [snapshot]
    group = snapshot["group_members"]
    if not group["available"] or len(group["members"]) != 2:
        return None
    owned = [p for member in group["members"] for p in member["partitions"]]
    if sorted(owned) != list(range(partitions)) or not all(
        member["partitions"] for member in group["members"]
    ):
        return None  # a rebalance is still moving partitions
    return snapshot


def test_snapshot_reports_the_group_its_members_lag_and_moving_counts(
    system_factory: Any,
    isolation: Isolation,
    kafka_settings: KafkaSettings,
) -> None:
    partitions = kafka_settings.topic_partitions
    with system_factory(env=OPS_ENV) as system:
        second = system.add_role("consumer", "consumer-2")
        replicas = [system.management_url, management_url(second)]
        seen: list[Any] = []
        before = eventually(
            lambda: _both_members_share_every_partition(replicas[0], partitions, seen),
            timeout=90,
            every=0.5,
            what=lambda: f"two members owning every partition between them, last seen {seen}",
        )
        assert before["topic"] == isolation.topic
        assert before["group"] == isolation.consumer_group
        assert before["group_members"]["state"] == "STABLE"
        offsets = before["offsets"]
        assert offsets["available"] is True
        assert [p["partition"] for p in offsets["partitions"]] == list(range(partitions))
        assert offsets["produced_total"] == offsets["processed_total"] == 0
        assert offsets["lag_total"] == 0
        assert before["replicas"] == {
            "available": False,
            "reason": before["replicas"]["reason"],
        }
        assert before["replicas"]["reason"].startswith("not configured")

        user = f"ops-{uuid.uuid4().hex[:8]}"
        with httpx.Client(base_url=system.web_url, timeout=30) as web:
            for _ in range(PURCHASES):
                answer = web.post(
                    "/api/v1/purchases", json={"user_id": user, "product_id": "p-001"}
                )
                assert answer.status_code == 202, answer.text

        def caught_up() -> dict[str, Any] | None:
            snapshot = _snapshot(replicas[0])
            found = snapshot["offsets"]
            done = found["processed_total"] == PURCHASES and found["lag_total"] == 0
            return snapshot if done else None

        after = eventually(caught_up, timeout=60, every=0.5, what="the group to store all")
        found = after["offsets"]
        assert found["produced_total"] == PURCHASES
        assert found["dead_lettered_total"] == 0
        # One user's purchases share a key, so they all landed on one partition.
        busy = [p for p in found["partitions"] if p["high"]]
        assert len(busy) == 1
        assert busy[0]["high"] == busy[0]["position"] == PURCHASES
        assert busy[0]["lag"] == 0

        # Each replica sees the whole group, not only its own partitions; the write latency is
        # each replica's own: together they wrote every purchase.
        views = [_snapshot(url) for url in replicas]
        assert all(v["offsets"]["partitions"] == found["partitions"] for v in views)
        members = [
            sorted(tuple(m["partitions"]) for m in v["group_members"]["members"]) for v in views
        ]
        assert members[0] == members[1]
        assert all(v["write_latency"]["scope"] == "this replica" for v in views)
        assert sum(v["write_latency"]["count"] for v in views) >= 1
        owner = next(
            m
            for m in views[0]["group_members"]["members"]
            if busy[0]["partition"] in m["partitions"]
        )
        assert owner["client_id"] == "shopsys"


def test_through_a_kafka_outage_the_snapshot_answers_in_time_and_the_consumer_lives(
    system_factory: Any, local_kafka_broker: KafkaBroker
) -> None:
    env = {**OPS_ENV, "SHOPSYS_OPS_KAFKA_TIMEOUT_SECONDS": "2"}
    with system_factory(env=env) as system:
        url = system.management_url
        eventually(
            lambda: True if _snapshot(url)["group_members"]["available"] else None,
            timeout=60,
            every=0.5,
            what="a first snapshot with the group",
        )
        local_kafka_broker.stop()
        reasons: set[str] = set()
        try:
            ends = time.monotonic() + 15
            while time.monotonic() < ends:
                asked = time.monotonic()
                snapshot = _snapshot(url)
                took = time.monotonic() - asked
                # the deadline (2 s) plus, after a kill, a new probe process's start allowance
                assert took < 2 + START_ALLOWANCE_SECONDS + 2, took
                assert snapshot["write_latency"]["available"] is True
                for part in ("offsets", "group_members"):
                    if not snapshot[part]["available"]:
                        reasons.add(snapshot[part]["reason"])
                health = httpx.get(f"{url}/healthz", timeout=5)
                assert health.status_code == 200, "the consumer loop must not crash"
            assert reasons, "with Kafka down, the Kafka parts must say they are unavailable"
            assert system.consumer.running
        finally:
            local_kafka_broker.start()
        print(f"\n[ops outage] reasons: {sorted(reasons)}")
        eventually(
            lambda: True if _snapshot(url)["offsets"]["available"] else None,
            timeout=90,
            every=1,
            what="the Kafka parts back after the broker restarted",
        )
