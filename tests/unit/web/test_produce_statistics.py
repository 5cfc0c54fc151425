"""The producer's batching, read from librdkafka's statistics and exported as counters."""

from __future__ import annotations

import inspect
import json

from prometheus_client import generate_latest

from shopsys.kafka.producer import EventPublisher, ProduceStatistics, produce_statistics_from
from shopsys.tracing.messaging import TracedPublisher
from shopsys.web.services import WebMetrics

# The parts of a librdkafka statistics document that are read (its STATISTICS.md shape).
DOCUMENT = {
    "txmsgs": 9_000,
    "brokers": {
        "127.0.0.1:9092/1": {"req": {"Produce": 3_000, "Metadata": 4}},
        "127.0.0.1:9093/2": {"req": {"Produce": 1_500, "Fetch": 0}},
        "GroupCoordinator": {"req": {"Metadata": 1}},
    },
}


def test_produce_requests_are_summed_over_the_brokers() -> None:
    assert produce_statistics_from(json.dumps(DOCUMENT)) == ProduceStatistics(
        requests=4_500, messages=9_000
    )


def test_the_totals_are_counters_once_the_first_statistics_arrived() -> None:
    latest: list[ProduceStatistics] = []
    metrics = WebMetrics()
    metrics.watch_producer(lambda: latest[-1] if latest else None)
    before = generate_latest(metrics.registry).decode()
    samples = [line for line in before.splitlines() if not line.startswith("#")]
    assert not any(line.startswith("shopsys_web_kafka_produce") for line in samples)
    latest.append(ProduceStatistics(requests=4_500, messages=9_000))
    after = generate_latest(metrics.registry).decode()
    assert "# TYPE shopsys_web_kafka_produce_requests_total counter" in after
    assert "shopsys_web_kafka_produce_requests_total 4500.0" in after
    assert "shopsys_web_kafka_produced_messages_total 9000.0" in after


def test_the_traced_publisher_passes_on_everything_a_publisher_answers() -> None:
    """A method it did not override would answer the interface's default (no problem, no
    statistics) for a producer that has them."""
    interface = {
        name
        for name, member in inspect.getmembers(EventPublisher, inspect.isfunction)
        if not name.startswith("_")
    }
    overridden = {name for name in interface if name in vars(TracedPublisher)}
    assert sorted(interface - overridden) == []
