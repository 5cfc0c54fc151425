"""Fault test (e): 1% poison injected straight into the topic while purchases stream in."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from confluent_kafka import (
    KafkaError,
    Message,
    Producer,
)
from pymongo.database import Database

from shopsys.events import purchase_placed
from shopsys.models import Product
from shopsys.settings import KafkaSettings
from tests.integration.consumer import checks
from tests.integration.consumer.streaming import PurchaseStream

pytestmark = pytest.mark.integration

PURCHASES = checks.FAULT_PURCHASES
POISON = PURCHASES // 100
LAMP = Product(id="p-001", name="Lamp", price_cents=100)


def _poison_value(index: int) -> tuple[bytes, str | None, str]:
    """(value, purchase_id it pretends to carry, what the DLQ error must mention)."""
    event = purchase_placed(
        purchase_id=uuid.uuid4(),
        user_id=f"user-{index:03d}",
        username=None,
        product=LAMP,
        quantity=1,
    )
    document = json.loads(event.to_json())
    if index % 3 == 0:
        return event.to_json()[:40], None, "json"
    if index % 3 == 1:
        document["schema"] = "shopsys.purchase.v2"
        return json.dumps(document).encode(), str(event.purchase_id), "schema"
    document["quantity"] = 0
    return json.dumps(document).encode(), str(event.purchase_id), "quantity"


def test_poison_messages_go_to_the_dead_letter_topic_and_the_rest_flows_on(
    system_factory: Any, mongo_database: Database[Any], kafka_settings: KafkaSettings
) -> None:
    producer = Producer({**kafka_settings.client_config(), "acks": "all"})
    injected: dict[tuple[int, int], tuple[bytes, str]] = {}
    poison_ids: set[str] = set()

    def delivered(error: KafkaError | None, message: Message) -> None:
        assert error is None, error
        injected[(message.partition(), message.offset())] = (
            message.value(),
            expected_by_value[message.value()],
        )

    expected_by_value: dict[bytes, str] = {}
    with system_factory() as system:
        stream = PurchaseStream(
            system.web_url, PURCHASES, rate=250.0, cancel_every=checks.CANCEL_EVERY
        ).start()
        for index in range(POISON):
            stream.wait_for(index * PURCHASES // POISON)
            value, purchase_id, mention = _poison_value(index)
            expected_by_value[value] = mention
            if purchase_id is not None:
                poison_ids.add(purchase_id)
            producer.produce(
                kafka_settings.topic,
                key=f"user-{index:03d}".encode(),
                value=value,
                on_delivery=delivered,
            )
            producer.poll(0)
        assert producer.flush(30) == 0
        assert len(injected) == POISON

        accepted = stream.join()
        print(f"\n[poison] stream: {stream.summary()}; {POISON} poison messages injected")
        stored = checks.assert_final_state(
            "poison",
            mongo_database,
            accepted,
            stream.cancelled,
            consumers=checks.consumer_urls(system),
        )
        assert not poison_ids & stored, "a poison message reached MongoDB"
        checks.wait_caught_up(kafka_settings)
        dead_lettered = checks.metric_samples(
            system.management_url, "shopsys_consumer_events_dead_lettered_total"
        )
        assert dead_lettered[""] == POISON

    letters = checks.read_topic(kafka_settings, kafka_settings.dlq_topic)
    print(f"[poison] dead-letter topic holds {len(letters)} messages")
    assert len(letters) == POISON
    found = {}
    for letter in letters:
        headers = {key: value.decode() for key, value in letter.headers() or []}
        assert headers["shopsys.dlq.topic"] == kafka_settings.topic
        assert headers["shopsys.dlq.consumer_group"] == kafka_settings.consumer_group
        origin = (int(headers["shopsys.dlq.partition"]), int(headers["shopsys.dlq.offset"]))
        found[origin] = (letter.value(), headers["shopsys.dlq.error"])
    assert set(found) == set(injected)
    for origin, (value, mention) in injected.items():
        stored_value, error = found[origin]
        assert stored_value == value
        assert mention in error.lower(), error
