"""Consumer metrics, including the lag per partition that KEDA scales on."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from shopsys.http.observability import HttpMetrics

BATCH_SIZES = (1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000)
WRITE_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class ConsumerMetrics(HttpMetrics):
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__(registry or CollectorRegistry(), "shopsys_management")
        r = self.registry

        def counter(name: str, text: str, labels: Sequence[str] = ()) -> Counter:
            return Counter(f"shopsys_consumer_{name}", text, labels, registry=r)

        def gauge(name: str, text: str, labels: Sequence[str] = ()) -> Gauge:
            return Gauge(f"shopsys_consumer_{name}", text, labels, registry=r)

        def histogram(name: str, text: str, buckets: Sequence[float]) -> Histogram:
            return Histogram(f"shopsys_consumer_{name}", text, buckets=buckets, registry=r)

        self.consumed = counter("events_consumed_total", "Messages read from Kafka.")
        self.written = counter("events_written_total", "Purchases inserted into MongoDB.")
        self.duplicates = counter("duplicates_ignored_total", "Redeliveries already stored.")
        self.cancelled = counter(
            "purchases_cancelled_total",
            "Cancellations applied to a stored purchase, or to a purchase stored after them.",
        )
        self.cancellations_kept = counter(
            "cancellations_kept_total",
            "Cancellations processed before their purchase: kept, and applied when it arrives.",
        )
        self.superseded = counter(
            "purchase_attempts_superseded_total",
            "Stored purchases replaced by a later attempt of the same order (a retry with the"
            " same Idempotency-Key after a doubtful 503).",
        )
        self.dead_lettered = counter("events_dead_lettered_total", "Messages sent to the DLQ.")
        self.dead_letters_refused = counter(
            "dead_letters_refused_total",
            "Messages the dead-letter topic refused for good (missing or forbidden topic): their"
            " partition is parked at them and tried again later.",
        )
        self.write_failures = counter("write_failures_total", "Batch writes failed, retried.")
        self.cancellations_ignored = counter(
            "cancellations_ignored_total",
            "Cancellations that changed nothing: already cancelled (a redelivery, a repeated"
            " request), or another user's purchase.",
            ["reason"],
        )
        self.commit_failures = counter(
            "commit_failures_total",
            "Offset commits the broker refused; retried, and until then a crash only means a"
            " harmless redelivery.",
        )
        self.batch_size = histogram("batch_size", "Messages per processed batch.", BATCH_SIZES)
        self.write_latency = histogram(
            "write_duration_seconds",
            "Duration of applying one batch of events to MongoDB.",
            WRITE_SECONDS,
        )
        self.assigned = gauge("assigned_partitions", "Partitions assigned to this consumer.")
        self.paused = gauge("paused", "1 while writes fail and the assigned partitions are paused.")
        self.parked = gauge(
            "parked_partitions",
            "Partitions held at a message the dead-letter topic refused, retried periodically.",
        )
        self.ready = gauge(
            "ready", "1 when /readyz would answer ready (checked on scrape), else 0."
        )
        self.lag = gauge(
            "lag_messages",
            "Consumer lag per assigned partition: high watermark minus committed offset.",
            ["topic", "partition"],
        )
