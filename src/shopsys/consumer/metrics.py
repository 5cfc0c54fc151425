"""Consumer metrics, including the lag per partition that KEDA scales on."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shopsys.observability import HttpMetrics


class ConsumerMetrics(HttpMetrics):
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry or CollectorRegistry(), "shopsys_management")
        r = self.registry
        self.consumed = Counter(
            "shopsys_consumer_events_consumed_total", "Messages read from Kafka.", registry=r
        )
        self.written = Counter(
            "shopsys_consumer_events_written_total", "Purchases inserted into MongoDB.", registry=r
        )
        self.duplicates = Counter(
            "shopsys_consumer_duplicates_ignored_total",
            "Redelivered purchases that were already stored.",
            registry=r,
        )
        self.cancelled = Counter(
            "shopsys_consumer_purchases_cancelled_total",
            "Purchases marked cancelled in MongoDB.",
            registry=r,
        )
        self.cancellations_ignored = Counter(
            "shopsys_consumer_cancellations_ignored_total",
            "Cancellations that changed nothing: already cancelled (a redelivery, a repeated"
            " request), or unmatched (no such purchase, or another user's).",
            ["reason"],
            registry=r,
        )
        self.dead_lettered = Counter(
            "shopsys_consumer_events_dead_lettered_total",
            "Messages sent to the dead-letter topic.",
            registry=r,
        )
        self.write_failures = Counter(
            "shopsys_consumer_write_failures_total",
            "Failed batch writes (retried with backoff).",
            registry=r,
        )
        self.batch_size = Histogram(
            "shopsys_consumer_batch_size",
            "Messages per processed batch.",
            buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000),
            registry=r,
        )
        self.write_latency = Histogram(
            "shopsys_consumer_write_duration_seconds",
            "Duration of applying one batch of events to MongoDB.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.commit_failures = Counter(
            "shopsys_consumer_commit_failures_total",
            "Offset commits that failed (the batch is redelivered, harmlessly).",
            registry=r,
        )
        self.assigned = Gauge(
            "shopsys_consumer_assigned_partitions",
            "Partitions currently assigned to this consumer.",
            registry=r,
        )
        self.paused = Gauge(
            "shopsys_consumer_paused",
            "1 while writes fail and the assigned partitions are paused.",
            registry=r,
        )
        self.lag = Gauge(
            "shopsys_consumer_lag_messages",
            "Consumer lag per assigned partition: high watermark minus committed offset.",
            ["topic", "partition"],
            registry=r,
        )
