"""The consumer role's composition root: MongoDB client, consumer loop thread, management API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable

import pymongo
from confluent_kafka import Consumer
from pymongo import MongoClient
from starlette.applications import Starlette
from starlette.middleware import Middleware

from shopsys.consumer.config import consumer_config
from shopsys.consumer.dead_letters import KafkaDeadLetterSink
from shopsys.consumer.handlers import EventApplier
from shopsys.consumer.lag import KafkaOffsetSource, LagMonitor
from shopsys.consumer.loop import ConsumerLoop
from shopsys.consumer.management_routes import management_routes
from shopsys.consumer.metrics import ConsumerMetrics
from shopsys.consumer.services import ConsumerServices
from shopsys.http_errors import EXCEPTION_HANDLERS
from shopsys.observability import ObservabilityMiddleware
from shopsys.settings import ConsumerSettings, KafkaSettings, ManagementSettings, MongoSettings
from shopsys.store import CatalogStore, Document, PurchaseStore, connect

logger = logging.getLogger(__name__)
PING_TIMEOUT_SECONDS = 0.8


def create_app(
    make_services: Callable[[ConsumerMetrics], ConsumerServices],
    make_loop: Callable[[ConsumerServices], ConsumerLoop] | None = None,
    *,
    shutdown_timeout: float = 20.0,
) -> Starlette:
    """The management API; with ``make_loop``, the consumer loop runs beside it in a thread."""
    metrics = ConsumerMetrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = make_services(metrics)
        app.state.services = services
        loop = make_loop(services) if make_loop is not None else None
        thread = None
        if loop is not None:
            services.consumer_problems = _loop_problems(loop)
            services.consumer_alive = lambda: not loop.crashed
            thread = threading.Thread(target=loop.run, name="consumer-loop", daemon=True)
            thread.start()
        try:
            yield
        finally:
            if loop is not None and thread is not None:
                logger.info("stopping the consumer loop")
                loop.stop()
                await asyncio.to_thread(thread.join, shutdown_timeout)
                if thread.is_alive():
                    logger.error("consumer loop did not stop within %.0fs", shutdown_timeout)
            services.close()

    return Starlette(
        routes=management_routes(),
        middleware=[Middleware(ObservabilityMiddleware, metrics=metrics)],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )


def _loop_problems(loop: ConsumerLoop) -> Callable[[], list[str]]:
    def problems() -> list[str]:
        found = []
        if loop.crashed:
            found.append("the consumer loop crashed")
        if loop.stopping:
            found.append("shutting down")
        # Kafka is deliberately not a condition: the management API (the web pods' catalog
        # and reads) must stay up through a Kafka outage, and a pod without partitions (a
        # rolling update's surge pod at maximum scale) must turn ready so the rollout can go
        # on. How many partitions a pod owns is the metric shopsys_consumer_assigned_partitions.
        if not loop.writing_ok:
            found.append("writes to mongodb are failing")
        return found

    return problems


def build_app(
    kafka: KafkaSettings,
    mongo: MongoSettings,
    management: ManagementSettings,
    consumer: ConsumerSettings,
) -> Starlette:
    """Production wiring from settings."""

    def make_services(metrics: ConsumerMetrics) -> ConsumerServices:
        client = connect(mongo)
        database = client[mongo.database]
        token = management.token.get_secret_value() if management.token else None
        return ConsumerServices(
            purchases=PurchaseStore(database),
            catalog=CatalogStore(database),
            ping_database=lambda: _ping(client),
            admin_token=token,
            metrics=metrics,
            close=client.close,
        )

    def make_loop(services: ConsumerServices) -> ConsumerLoop:
        loop = ConsumerLoop(
            Consumer(consumer_config(kafka)),
            EventApplier(services.purchases, services.metrics),
            KafkaDeadLetterSink(kafka),
            consumer,
            services.metrics,
            topic=kafka.topic,
        )
        loop.attach_lag_monitor(
            LagMonitor(KafkaOffsetSource(kafka), services.metrics.lag, loop.assigned)
        )
        return loop

    return create_app(make_services, make_loop, shutdown_timeout=consumer.shutdown_timeout_seconds)


def _ping(client: MongoClient[Document]) -> None:
    """Bounded well under a readiness probe's timeout, even while no server is selectable."""
    with pymongo.timeout(PING_TIMEOUT_SECONDS):
        client.admin.command("ping")
