"""Errors that waiting does not heal, against the real broker and FerretDB: none of them
stalls the pod's other partitions or turns it unready.

- the dead-letter topic is missing: the poison's partition is parked at it, the rest flows,
  and once the topic exists the poison is dead-lettered once;
- a poison value larger than the dead-letter topic takes: dead-lettered without its value,
  with a header saying so;
- a purchase MongoDB refuses (a unique index an operator added): dead-lettered with the
  reason, the rest stored.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
)
from pymongo.database import Database

from shopsys.consumer.dead_letters import ERROR_HEADER, OFFSET_HEADER, VALUE_OMITTED_HEADER
from shopsys.kafka.admin import ensure_topics
from shopsys.settings import KafkaSettings
from tests.integration.consumer import checks
from tests.integration.consumer.streaming import PurchaseStream
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

BIG = 1_500_000  # over the dead-letter topic's 1 MB limit, under the purchases topic's 2 MB


def _metric(base_url: str, name: str) -> float:
    return checks.metric_samples(base_url, name).get("", 0.0)


def _ready(base_url: str) -> int:
    return httpx.get(f"{base_url}/readyz", timeout=5).status_code


def _produce(settings: KafkaSettings, partition: int, value: bytes) -> None:
    producer = Producer({**settings.client_config(), "message.max.bytes": 2 * BIG})
    producer.produce(settings.topic, value=value, key=b"poison", partition=partition)
    assert producer.flush(30) == 0


def _allow_big_messages(settings: KafkaSettings) -> None:
    admin = AdminClient(settings.client_config())
    resource = ConfigResource(
        ConfigResource.Type.TOPIC,
        settings.topic,
        incremental_configs=[
            ConfigEntry(
                "max.message.bytes", str(2 * BIG), incremental_operation=AlterConfigOpType.SET
            )
        ],
    )
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)


def test_a_missing_dead_letter_topic_parks_one_partition_and_heals_when_it_exists(
    system_factory: Any, mongo_database: Database[Any], kafka_settings: KafkaSettings
) -> None:
    missing = kafka_settings.model_copy(update={"dlq_topic": f"{kafka_settings.topic}.later"})
    _allow_big_messages(kafka_settings)
    env = {"SHOPSYS_KAFKA_DLQ_TOPIC": missing.dlq_topic, "SHOPSYS_CONSUMER_PARK_SECONDS": "2"}
    with system_factory(env=env) as system:
        stream = PurchaseStream(system.web_url, 1_200, rate=150.0, catalog_only=True).start()
        stream.wait_for(200)
        _produce(kafka_settings, 3, b"not an event")

        eventually(
            lambda: (
                True
                if _metric(system.management_url, "shopsys_consumer_parked_partitions")
                else None
            ),
            timeout=30,
            what="partition 3 parked at the poison",
        )
        # The other partitions go on: purchases bought from now on are written (those on
        # partition 3 wait with it), however long the parking took on a busy machine.
        stream.join()
        more = PurchaseStream(system.web_url, 600, rate=150.0, catalog_only=True).start()
        written = _metric(system.management_url, "shopsys_consumer_events_written_total")
        eventually(
            lambda: (
                True
                if _metric(system.management_url, "shopsys_consumer_events_written_total")
                > written + 100
                else None
            ),
            timeout=30,
            what="writes on the other partitions while one is parked",
        )
        assert _ready(system.management_url) == 200, "a parked partition leaves the pod ready"

        ensure_topics(missing)  # the operator creates the topic (1 MB messages, the default)
        _produce(kafka_settings, 5, b"x" * BIG)
        accepted = stream.join() | more.join()
        eventually(
            lambda: (
                True
                if _metric(system.management_url, "shopsys_consumer_events_dead_lettered_total")
                == 2
                and not _metric(system.management_url, "shopsys_consumer_parked_partitions")
                else None
            ),
            timeout=60,
            what="both poison messages dead-lettered, nothing parked",
        )
        checks.assert_final_state(
            "dlq missing", mongo_database, accepted, set(), consumers=checks.consumer_urls(system)
        )
        checks.wait_caught_up(kafka_settings)

        letters = checks.read_topic(missing, missing.dlq_topic)
        assert len(letters) == 2, "each poison message dead-lettered once"
        big, small = sorted(letters, key=lambda m: m.value() is not None)
        assert small.value() == b"not an event"
        assert big.value() is None
        headers = dict(big.headers() or [])
        assert headers[VALUE_OMITTED_HEADER] == f"{BIG} bytes".encode()
        assert headers[OFFSET_HEADER] == b"%d" % _offset_of_big(kafka_settings)
        refused = _metric(system.management_url, "shopsys_consumer_dead_letters_refused_total")
        print(f"\n[dlq missing] refused attempts while the topic was missing: {refused:.0f}")
        assert refused >= 1


def _offset_of_big(settings: KafkaSettings) -> int:
    sizes = [
        (len(m.value() or b""), m.offset())
        for m in checks.read_topic(settings, settings.topic)
        if m.partition() == 5
    ]
    return max(sizes)[1] or 0


def test_a_purchase_the_database_refuses_is_dead_lettered_with_the_reason(
    system_factory: Any, mongo_database: Database[Any], kafka_settings: KafkaSettings
) -> None:
    mongo_database["purchases"].create_index("username", unique=True, name="username_unique")
    run = uuid.uuid4().hex[:6]
    with system_factory() as system, httpx.Client(base_url=system.web_url, timeout=10) as web:

        def buy(user: str, username: str) -> str:
            body = {"user_id": user, "username": username, "product_id": "p-001"}
            answer = web.post("/api/v1/purchases", json=body)
            assert answer.status_code == 202, answer.text
            return str(answer.json()["purchase_id"])

        stored = {buy(f"{run}-u{i}", f"Name {i}") for i in range(20)}
        # Order holds within a partition only: the clash must come after "Name 3" is stored.
        eventually(
            lambda: True if mongo_database["purchases"].count_documents({}) >= 20 else None,
            timeout=60,
            what="the first 20 purchases stored",
        )
        clash = buy(f"{run}-other", "Name 3")
        stored |= {buy(f"{run}-u{i}", f"Late {i}") for i in range(20, 25)}

        checks.assert_final_state(
            "refused", mongo_database, stored, set(), consumers=checks.consumer_urls(system)
        )
        checks.wait_caught_up(kafka_settings)
        assert _ready(system.management_url) == 200
        letters = checks.read_topic(kafka_settings, kafka_settings.dlq_topic)
        assert len(letters) == 1
        assert clash.encode() in (letters[0].value() or b"")
        reason = dict(letters[0].headers() or [])[ERROR_HEADER].decode()
        assert "duplicate key in a unique index other than _id" in reason, reason
