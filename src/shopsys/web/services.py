"""What the web role's handlers depend on, bundled so the composition root can pass it in."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.metrics_core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from shopsys.http.observability import HttpMetrics
from shopsys.kafka.producer import STATISTICS_INTERVAL_SECONDS, EventPublisher, ProduceStatistics
from shopsys.web.management_client import ManagementReader


class WebMetrics(HttpMetrics):
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry or CollectorRegistry(), "shopsys_web")
        r = self.registry
        self.events_produced = Counter(
            "shopsys_web_events_produced_total", "Events acknowledged by Kafka.", registry=r
        )
        self.events_failed = Counter(
            "shopsys_web_events_failed_total",
            "Events Kafka did not acknowledge in time (answered 503).",
            registry=r,
        )
        self.producer_queue = Gauge(
            "shopsys_web_producer_queue_messages",
            "Messages waiting in the producer queue for a delivery report.",
            registry=r,
        )
        self.kafka_reachable = Gauge(
            "shopsys_web_kafka_reachable",
            "1 while the broker answers metadata requests for the topic (checked at most every"
            " 2 s, on scrape); readiness does not depend on it.",
            registry=r,
        )

    def watch_producer(self, statistics: Callable[[], ProduceStatistics | None]) -> None:
        self.registry.register(_ProduceStatisticsCollector(statistics))


class _ProduceStatisticsCollector(Collector):
    def __init__(self, statistics: Callable[[], ProduceStatistics | None]) -> None:
        self._statistics = statistics

    def collect(self) -> Iterator[Metric]:
        every = f"(librdkafka's statistics, every {STATISTICS_INTERVAL_SECONDS} s)"
        requests = CounterMetricFamily(
            "shopsys_web_kafka_produce_requests", f"Produce requests sent to Kafka {every}."
        )
        messages = CounterMetricFamily(
            "shopsys_web_kafka_produced_messages",
            f"Messages sent in those requests {every}; per request, the producer's batching.",
        )
        latest = self._statistics()
        if latest is not None:
            requests.add_metric([], latest.requests)
            messages.add_metric([], latest.messages)
        yield requests
        yield messages


@dataclass(frozen=True)
class WebBehaviour:
    max_body_bytes: int = 16_384


@dataclass(frozen=True)
class WebServices:
    """Built once per process by the composition root; nothing in it is replaced later."""

    publisher: EventPublisher
    reader: ManagementReader
    settings: WebBehaviour = field(default_factory=WebBehaviour)
    metrics: WebMetrics = field(default_factory=WebMetrics)
    _stopping: threading.Event = field(default_factory=threading.Event)

    @property
    def shutting_down(self) -> bool:
        return self._stopping.is_set()

    def begin_shutdown(self) -> None:
        """Readiness turns false; requests already running still complete."""
        self._stopping.set()

    async def close(self) -> None:
        self._stopping.set()
        try:
            await self.publisher.close()
        finally:
            await self.reader.close()
