"""Fault tests of order and doubt, under load against the real broker and FerretDB:

- cancellations racing their purchases across partitions: the topic is grown mid-stream, a
  web process that knows the new partition count sends the cancellations while the old one
  still sends purchases, and the consumer meets many cancellations before their purchase;
- the broker's answers delayed past the web's deadline: the broker stalls (SIGSTOP) while
  purchases stream in and the price changes, so purchases are answered 503 yet appended,
  and retried with the same Idempotency-Key at the new price.

Both end with every purchase answered 202 stored exactly once, as answered.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from pymongo.database import Database

from shopsys.devtools.provision import KafkaBroker
from shopsys.kafka.admin import ensure_topics
from shopsys.settings import KafkaSettings
from tests.integration.consumer import checks
from tests.integration.consumer.streaming import PRODUCTS, PurchaseStream

pytestmark = pytest.mark.integration


async def _cancel_all(web_url: str, orders: list[tuple[str, str]]) -> set[str]:
    """Cancel each (user, purchase id), retrying doubtful answers; the ids answered 202."""
    done: set[str] = set()
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
    for order in orders:
        queue.put_nowait(order)

    async def worker() -> None:
        async with httpx.AsyncClient(base_url=web_url, timeout=20) as client:
            while not queue.empty():
                user, purchase_id = queue.get_nowait()
                path = f"/api/v1/users/{user}/purchases/{purchase_id}/cancel"
                for _ in range(50):
                    answer = await client.post(path)
                    if answer.status_code == 202:
                        done.add(purchase_id)
                        break
                    assert answer.status_code == 503, answer.text
                    await asyncio.sleep(0.2)

    await asyncio.gather(*(worker() for _ in range(16)))
    return done


def test_cancellations_racing_their_purchases_across_partitions(
    system_factory: Any,
    mongo_database: Database[Any],
    kafka_settings: KafkaSettings,
) -> None:
    with system_factory() as system:
        httpx.get(f"{system.web_url}/api/v1/products", timeout=5).raise_for_status()  # cached
        system.consumer.stop()  # a backlog builds on the first 12 partitions
        first = PurchaseStream(system.web_url, 600, rate=400.0, catalog_only=True).start()
        first.join()

        grown = kafka_settings.model_copy(update={"topic_partitions": 24})
        ensure_topics(grown)
        web_b = system.add_role("web", "web-b")
        users = {pid: f"user-{index % 200:03d}" for index, pid in first.accepted.items()}
        to_cancel = [(users[pid], pid) for index, pid in first.accepted.items() if index % 3 == 0]

        # Under load: more purchases through the old web (12 partitions in its view), each
        # 5th cancelled through the new one (24), while the consumer works off the backlog.
        second = PurchaseStream(
            system.web_url,
            600,
            rate=200.0,
            cancel_every=5,
            catalog_only=True,
            user_prefix="late",
            cancel_url=web_b.ready_url.removesuffix("/readyz"),
        ).start()
        cancelled = asyncio.run(_cancel_all(web_b.ready_url.removesuffix("/readyz"), to_cancel))
        started = time.monotonic()
        system.consumer.start()
        accepted = first.join() | second.join()

        print(f"\n[race] streams: {first.summary()}; {second.summary()}")
        checks.assert_final_state(
            "race",
            mongo_database,
            accepted,
            cancelled | second.cancelled,
            timeout=90,
            consumers=checks.consumer_urls(system),
        )
        print(f"[race] final state {time.monotonic() - started:.1f}s after the consumer started")
        checks.wait_caught_up(grown)
        kept = checks.metric_samples(
            system.management_url, "shopsys_consumer_cancellations_kept_total"
        )
        print(f"[race] cancellations processed before their purchase: {kept['']:.0f}")
        assert kept[""] > 0, "no cancellation overtook its purchase: the race did not happen"
        placeholders = mongo_database["purchases"].count_documents({"user_id": {"$exists": False}})
        assert placeholders == 0


def _set_price(management_url: str, product_id: str, price_cents: int) -> None:
    url = f"{management_url}/api/v1/products/{product_id}"
    product = httpx.get(url, timeout=5).json()
    answer = httpx.put(url, json={**product, "price_cents": price_cents}, timeout=5)
    answer.raise_for_status()


def test_broker_answers_delayed_past_the_deadline(
    system_factory: Any,
    mongo_database: Database[Any],
    kafka_settings: KafkaSettings,
    local_kafka_broker: KafkaBroker,
) -> None:
    env = {
        "SHOPSYS_WEB_PUBLISH_TIMEOUT_SECONDS": "1.5",
        "SHOPSYS_WEB_CATALOG_CACHE_SECONDS": "0.2",
    }
    with system_factory(env=env) as system:
        stream = PurchaseStream(system.web_url, 1_200, rate=120.0, catalog_only=True).start()
        for stall, price in enumerate((1_111, 2_222, 3_333)):
            stream.wait_for(250 * (stall + 1))
            with local_kafka_broker.frozen():  # short of its 4 s controller session: no fencing
                time.sleep(0.8)
                for product in PRODUCTS:
                    _set_price(system.management_url, product, price)  # retries are priced anew
                time.sleep(2.0)  # past the web's deadline (1.5 s)
        accepted = stream.join()
        doubtful = stream.statuses["503"]
        print(f"\n[delayed] stream: {stream.summary()}; doubtful answers (503): {doubtful}")
        assert doubtful > 0, "no answer was delayed past the deadline"
        checks.assert_final_state(
            "delayed", mongo_database, accepted, set(), consumers=checks.consumer_urls(system)
        )
        checks.wait_caught_up(kafka_settings)

        stored = {
            document["_id"]: document["total_cents"]
            for document in mongo_database["purchases"].find({}, {"total_cents": 1})
        }
        wrong = {pid: (stored[pid], total) for pid, total in stream.totals.items()}
        wrong = {pid: pair for pid, pair in wrong.items() if pair[0] != pair[1]}
        assert not wrong, f"stored amounts differ from the answered ones: {list(wrong.items())[:5]}"

        in_topic = Counter(
            json.loads(message.value())["purchase_id"]
            for message in checks.read_topic(kafka_settings, kafka_settings.topic)
        )
        twice = sum(1 for count in in_topic.values() if count > 1)
        superseded = checks.metric_samples(
            system.management_url, "shopsys_consumer_purchase_attempts_superseded_total"
        )[""]
        print(
            f"[delayed] purchases whose doubtful attempt was appended too: {twice}; "
            f"earlier attempts replaced by a later one: {superseded:.0f}"
        )
        assert twice > 0, "no doubtful answer hid a stored event: the test proved nothing"
