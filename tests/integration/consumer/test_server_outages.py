"""Fault tests (c) and (d): the database and the broker go away while purchases stream in.

The servers are the session's shared ones: each test restarts what it stopped (in a
``finally``) before it ends. Against external servers (SHOPSYS_TEST_*) these tests cannot
stop anything, and say so.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import httpx
import pytest
from pymongo.database import Database

from shopsys.devtools.provision import FerretDBServer, KafkaBroker
from shopsys.settings import KafkaSettings
from tests.integration.consumer.checks import (
    CANCEL_EVERY,
    FAULT_PURCHASES,
    FAULT_RATE,
    assert_final_state,
    consumer_urls,
    metric_samples,
    wait_caught_up,
)
from tests.integration.consumer.streaming import PurchaseStream
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

PURCHASES, RATE = FAULT_PURCHASES, FAULT_RATE
OUTAGE_SECONDS = 10.0


def _readyz(base_url: str) -> int:
    try:
        return httpx.get(f"{base_url}/readyz", timeout=2).status_code
    except httpx.HTTPError:
        return 0


def test_mongodb_down_for_ten_seconds_mid_stream(
    system_factory: Any,
    mongo_database: Database[Any],
    kafka_settings: KafkaSettings,
    ferretdb_server: FerretDBServer | None,
) -> None:
    if ferretdb_server is None:
        pytest.skip("the MongoDB server is external (SHOPSYS_TEST_MONGODB_URI): cannot stop it")
    with system_factory() as system:
        stream = PurchaseStream(
            system.web_url, PURCHASES, rate=RATE, cancel_every=CANCEL_EVERY
        ).start()
        stream.wait_for(PURCHASES // 4)
        ready_answers: set[int] = set()
        paused = 0.0
        ferretdb_server.stop()
        try:
            print(f"\n[mongodb] stopped after {len(stream.accepted)} accepted")
            down_until = time.monotonic() + OUTAGE_SECONDS
            while time.monotonic() < down_until:
                ready_answers.add(_readyz(system.management_url))
                with contextlib.suppress(httpx.HTTPError):
                    samples = metric_samples(system.management_url, "shopsys_consumer_paused")
                    paused = max(paused, samples.get("", 0.0))
                time.sleep(0.5)
        finally:
            ferretdb_server.start()
        print(f"[mongodb] back; /readyz answered {sorted(ready_answers)} during the outage")
        assert 503 in ready_answers, "/readyz must fail while MongoDB is down"
        assert 0 not in ready_answers, "/readyz must answer promptly, even with MongoDB down"
        assert paused == 1.0, "the consumer pauses its partitions while writes fail"

        eventually(
            lambda: True if _readyz(system.management_url) == 200 else None,
            timeout=30,
            every=0.5,
            what="the consumer to recover by itself",
        )
        failures = metric_samples(system.management_url, "shopsys_consumer_write_failures_total")
        assert failures[""] >= 1

        accepted = stream.join()
        print(f"[mongodb] stream: {stream.summary()}")
        assert_final_state(
            "mongodb outage",
            mongo_database,
            accepted,
            stream.cancelled,
            consumers=consumer_urls(system),
        )
        wait_caught_up(kafka_settings)


def test_kafka_broker_restarted_mid_stream(
    system_factory: Any,
    mongo_database: Database[Any],
    kafka_settings: KafkaSettings,
    local_kafka_broker: KafkaBroker,
) -> None:
    # A wait for Kafka's ack shorter than the outage: some purchases must get their 503 (with
    # the 5 s default, a restart that took less than that was only a slower answer).
    with system_factory(env={"SHOPSYS_WEB_PUBLISH_TIMEOUT_SECONDS": "1.5"}) as system:
        stream = PurchaseStream(
            system.web_url, PURCHASES, rate=RATE, cancel_every=CANCEL_EVERY
        ).start()
        stream.wait_for(PURCHASES // 3)
        started = time.monotonic()
        local_kafka_broker.stop()
        try:
            print(f"\n[kafka] stopped after {len(stream.accepted)} accepted")
            time.sleep(2)
        finally:
            local_kafka_broker.start()
        print(f"[kafka] restarted; down for {time.monotonic() - started:.1f}s")

        accepted = stream.join()
        print(f"[kafka] stream: {stream.summary()}")
        assert stream.statuses["503"] > 0, "serve-web must refuse purchases Kafka cannot take"
        assert_final_state(
            "kafka restart",
            mongo_database,
            accepted,
            stream.cancelled,
            consumers=consumer_urls(system),
        )
        wait_caught_up(kafka_settings)
