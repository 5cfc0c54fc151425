"""Reading the system's state back through its own public API."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from shopsys.events import PURCHASE_PLACED


def stored_purchase(client: httpx.Client, purchase_id: str) -> dict[str, Any] | None:
    """The purchase as ``GET /api/v1/purchases/{id}`` shows it; None while it is not stored."""
    response = client.get(f"/api/v1/purchases/{purchase_id}")
    if response.status_code == 404:
        return None
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def kafka_message(
    bootstrap: str, topic: str, purchase_id: str, schema: str = PURCHASE_PLACED
) -> Any:
    """The event as it sits on the topic (read directly, without a consumer group)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"probe-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            value = json.loads(message.value())
            if (value["purchase_id"], value["schema"]) == (purchase_id, schema):
                return message
        raise AssertionError(f"purchase {purchase_id} is not on topic {topic}")
    finally:
        consumer.close()
