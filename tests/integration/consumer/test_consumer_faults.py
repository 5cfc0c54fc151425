"""Fault tests (a) and (b): consumers killed and rebalanced while purchases stream in.

Each streams purchases through serve-web while the fault happens, then asserts that the set
of purchase ids in MongoDB is exactly the set answered 202, with no duplicates.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from pymongo.database import Database

from shopsys.settings import KafkaSettings
from tests.integration.consumer.checks import (
    CANCEL_EVERY,
    FAULT_PURCHASES,
    FAULT_RATE,
    assert_final_state,
    consumer_urls,
    management_url,
    metric_samples,
    wait_caught_up,
)
from tests.integration.consumer.streaming import PurchaseStream
from tests.support.polling import eventually

pytestmark = pytest.mark.integration

PURCHASES, RATE = FAULT_PURCHASES, FAULT_RATE


def test_consumer_killed_three_times_mid_stream_loses_and_duplicates_nothing(
    system_factory: Any, mongo_database: Database[Any], kafka_settings: KafkaSettings
) -> None:
    with system_factory() as system:
        stream = PurchaseStream(
            system.web_url, PURCHASES, rate=RATE, cancel_every=CANCEL_EVERY
        ).start()
        purchases = mongo_database["purchases"]
        for kill in range(3):
            stream.wait_for(PURCHASES * (kill + 1) // 4)
            stored_before = purchases.count_documents({})
            system.consumer.kill()  # SIGKILL: no commit, no goodbye to the group
            print(
                f"\n[kill {kill + 1}] SIGKILL after {len(stream.accepted)} accepted, "
                f"{stored_before} stored"
            )
            system.consumer.start()
            eventually(
                lambda before=stored_before: (
                    True if purchases.count_documents({}) > before else None
                ),
                timeout=30,
                what="the restarted consumer to store something",
            )
        accepted = stream.join()
        print(f"\n[kill] stream: {stream.summary()}")
        assert_final_state(
            "kill x3", mongo_database, accepted, stream.cancelled, consumers=consumer_urls(system)
        )
        wait_caught_up(kafka_settings)


def test_rebalance_when_a_consumer_joins_and_another_leaves_mid_stream(
    system_factory: Any,
    mongo_database: Database[Any],
    kafka_settings: KafkaSettings,
) -> None:
    with system_factory() as system:
        second = system.add_role("consumer", "consumer-b")
        stream = PurchaseStream(
            system.web_url, PURCHASES, rate=RATE, cancel_every=CANCEL_EVERY
        ).start()
        stream.wait_for(PURCHASES // 3)
        third = system.add_role(
            "consumer", "consumer-c"
        )  # joins: cooperative-sticky moves a few partitions
        stream.wait_for(2 * PURCHASES // 3)
        started = time.monotonic()
        exit_code = second.stop(timeout=30)  # SIGTERM: finish the batch, commit, leave
        stop_seconds = time.monotonic() - started
        print(f"\n[rebalance] consumer-b stopped with {exit_code} in {stop_seconds:.1f}s")
        # uvicorn re-raises the SIGTERM it handled once shutdown is complete
        assert exit_code in (0, -15), second.log_tail()
        log = second.log_path.read_text()
        assert "consumer leaving the group" in log
        assert "Application shutdown complete" in log
        assert stop_seconds < 25, "a consumer must leave within its shutdown bound"

        accepted = stream.join()
        print(f"\n[rebalance] stream: {stream.summary()}")
        assert_final_state(
            "rebalance", mongo_database, accepted, stream.cancelled, consumers=consumer_urls(system)
        )
        wait_caught_up(kafka_settings)

        # The lag per partition is reported by whoever owns the partition, and reaches 0.
        lag: dict[str, float] = {}

        def reported_lag_zero() -> bool | None:
            lag.clear()
            for base_url in (system.management_url, management_url(third)):
                lag.update(metric_samples(base_url, "shopsys_consumer_lag_messages"))
            complete = len(lag) == kafka_settings.topic_partitions
            return True if complete and not any(lag.values()) else None

        eventually(reported_lag_zero, every=0.5, what=lambda: f"lag 0 per partition: {lag}")
