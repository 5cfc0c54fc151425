"""The consumer role's composition root: MongoDB client, consumer loop thread, management API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import pymongo
from confluent_kafka import Consumer
from pymongo import MongoClient
from starlette.applications import Starlette
from starlette.middleware import Middleware

from shopsys.consumer.config import consumer_config
from shopsys.consumer.dead_letters import KafkaDeadLetterSink
from shopsys.consumer.handlers import EventApplier
from shopsys.consumer.lag import KafkaOffsetSource
from shopsys.consumer.loop import ConsumerLoop
from shopsys.consumer.metrics import ConsumerMetrics
from shopsys.http.errors import EXCEPTION_HANDLERS
from shopsys.http.observability import ObservabilityMiddleware
from shopsys.management.operations.kubernetes import KubernetesReplicas
from shopsys.management.operations.probe import ProcessKafkaProbe
from shopsys.management.operations.routes import operations_routes
from shopsys.management.operations.snapshot import Names, Operations
from shopsys.management.routes import management_routes
from shopsys.management.services import ConsumerServices
from shopsys.settings import (
    ConsumerSettings,
    KafkaSettings,
    ManagementSettings,
    MongoSettings,
    OpsSettings,
)
from shopsys.store import CatalogStore, Document, PurchaseStore, connect
from shopsys.tracing import CONSUMER_SERVICE_NAME, Tracing, tracing_from_env, tracing_middleware

if TYPE_CHECKING:
    from shopsys.tracing.messaging import ConsumerTracing

logger = logging.getLogger(__name__)
PING_TIMEOUT_SECONDS = 0.8


def create_app(
    make_services: Callable[[ConsumerMetrics], ConsumerServices],
    *,
    tracing: Tracing | None = None,
) -> Starlette:
    """The management API; the services' consumer loop runs beside it in a thread.
    With ``tracing``, each request gets a server span, and the tracer provider is flushed and
    shut down once the loop has stopped."""
    metrics = ConsumerMetrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = make_services(metrics)
        app.state.services = services
        loop = services.loop
        thread = threading.Thread(target=loop.run, name="consumer-loop", daemon=True)
        thread.start()
        try:
            yield
        finally:
            logger.info("stopping the consumer loop")
            loop.stop()
            await asyncio.to_thread(thread.join, loop.shutdown_timeout)
            if thread.is_alive():
                logger.error("consumer loop did not stop within %.0fs", loop.shutdown_timeout)
            services.operations.close()
            try:
                services.close()
            finally:
                if tracing is not None:  # after the loop: its last batch's spans are ended
                    await asyncio.to_thread(tracing.shutdown)

    return Starlette(
        routes=[*management_routes(), *operations_routes()],
        middleware=[
            *tracing_middleware(tracing),
            Middleware(ObservabilityMiddleware, metrics=metrics),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )


def build_app(
    kafka: KafkaSettings,
    mongo: MongoSettings,
    management: ManagementSettings,
    consumer: ConsumerSettings,
    ops: OpsSettings | None = None,
) -> Starlette:
    """Production wiring from settings and the ``OTEL_*`` environment, in order: MongoDB,
    the stores, the loop, the API."""
    tracing = tracing_from_env(CONSUMER_SERVICE_NAME)
    ops = ops or OpsSettings()

    def make_services(metrics: ConsumerMetrics) -> ConsumerServices:
        client = connect(mongo, batch_size=consumer.batch_size)
        database = client[mongo.database]
        purchases = PurchaseStore(database)
        loop = ConsumerLoop(
            Consumer(consumer_config(kafka)),
            EventApplier(purchases, metrics),
            KafkaDeadLetterSink(kafka),
            consumer,
            metrics,
            topic=kafka.topic,
            lag=KafkaOffsetSource.for_settings(kafka),
            tracing=_consumer_tracing(tracing, kafka),
        )
        return ConsumerServices(
            purchases=purchases,
            catalog=CatalogStore(database),
            ping_database=lambda: _ping(client),
            loop=loop,
            admin_token=management.token.get_secret_value() if management.token else None,
            metrics=metrics,
            read_timeout=management.read_timeout_seconds,
            operations=operations(kafka, ops, metrics),
            close=client.close,
        )

    return create_app(make_services, tracing=tracing)


def _consumer_tracing(tracing: Tracing | None, kafka: KafkaSettings) -> ConsumerTracing | None:
    if tracing is None:
        return None
    from shopsys.tracing.messaging import ConsumerTracing

    return ConsumerTracing(tracing.tracer, topic=kafka.topic, consumer_group=kafka.consumer_group)


def operations(kafka: KafkaSettings, ops: OpsSettings, metrics: ConsumerMetrics) -> Operations:
    """The operations page's reads; nothing starts until a page asks."""
    return Operations(
        names=Names(topic=kafka.topic, dlq_topic=kafka.dlq_topic, group=kafka.consumer_group),
        probe=ProcessKafkaProbe(kafka, timeout=ops.kafka_timeout_seconds),
        replicas=KubernetesReplicas(ops.web_deployment, ops.consumer_deployment),
        write_latency=metrics.write_latency,
        kafka_timeout=ops.kafka_timeout_seconds,
        cache_seconds=ops.cache_seconds,
    )


def _ping(client: MongoClient[Document]) -> None:
    """Bounded well under a readiness probe's timeout, even while no server is selectable."""
    with pymongo.timeout(PING_TIMEOUT_SECONDS):
        client.admin.command("ping")
