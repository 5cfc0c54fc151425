"""Kafka alone: produce-to-acknowledgement latency with the web role's producer settings,
at a fixed rate, with no HTTP and no event loop. It is the share of a purchase's latency
that belongs to the broker (acks=all, idempotence), measured on the same machine in the
same run as the web benchmark."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass

from confluent_kafka import KafkaError, Message, Producer

from shopsys.events import PurchasePlaced, purchase_placed
from shopsys.kafka.producer import producer_config
from shopsys.loadgen.stats import percentile
from shopsys.models import Product
from shopsys.settings import KafkaSettings

PUBLISH_TIMEOUT = 5.0
PRODUCT = Product(id="p-001", name="Item 1", price_cents=101)


@dataclass(frozen=True)
class Acks:
    sent: int
    failed: int
    p50_ms: float
    p95_ms: float
    p99_ms: float

    @classmethod
    def of(cls, sent: int, acknowledged: list[float]) -> Acks:
        """``sent`` events, of which ``acknowledged`` (their latencies in seconds) were."""
        ordered = sorted(acknowledged)
        p50, p95, p99 = (percentile(ordered, share) * 1000 for share in (0.50, 0.95, 0.99))
        return cls(sent, sent - len(ordered), p50, p95, p99)


def produce_at_rate(kafka: KafkaSettings, rate: float, seconds: float) -> Acks:
    """``rate`` purchase events a second for ``seconds``, each timed from ``produce()`` to
    its delivery report, served by a polling thread as the web role does."""
    producer = Producer(producer_config(kafka, PUBLISH_TIMEOUT))
    latencies: list[float] = []  # of the events acknowledged; the rest failed
    stopping = threading.Event()

    def serve_reports() -> None:
        while not stopping.is_set():
            producer.poll(0.1)

    poller = threading.Thread(target=serve_reports, name="kafka-alone-reports", daemon=True)
    poller.start()
    count = int(rate * seconds)
    try:
        # Connected, and the idempotent producer's id obtained, before anything is timed.
        producer.produce(kafka.topic, key=b"warm-up", value=_event(0).to_json())
        producer.flush(PUBLISH_TIMEOUT)
        started = time.perf_counter()
        for i in range(count):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            event = _event(i)
            sent = time.perf_counter()

            def on_delivery(error: KafkaError | None, _: Message, sent: float = sent) -> None:
                if error is None:
                    latencies.append(time.perf_counter() - sent)

            producer.produce(
                kafka.topic, key=event.key, value=event.to_json(), on_delivery=on_delivery
            )
        producer.flush(PUBLISH_TIMEOUT * 2)
    finally:
        stopping.set()
        poller.join()
    return Acks.of(count, latencies)


def _event(i: int) -> PurchasePlaced:
    return purchase_placed(
        purchase_id=uuid.uuid4(),
        user_id=f"bench-{i % 500}",
        username=None,
        product=PRODUCT,
        quantity=1,
    )
