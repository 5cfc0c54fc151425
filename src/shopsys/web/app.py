"""The web role's composition root: builds the producer and the management client once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import httpcore
from starlette.applications import Starlette
from starlette.middleware import Middleware

from shopsys.http.errors import EXCEPTION_HANDLERS
from shopsys.http.observability import ObservabilityMiddleware
from shopsys.kafka.producer import EventPublisher, KafkaEventPublisher
from shopsys.settings import KafkaSettings, ManagementSettings, WebSettings
from shopsys.tracing import WEB_SERVICE_NAME, Tracing, tracing_from_env, tracing_middleware
from shopsys.web.management_client import HttpManagementReader
from shopsys.web.openapi import Operation, build_document
from shopsys.web.pages import page_operations, static_files
from shopsys.web.probes import probe_operations
from shopsys.web.routes import api_operations
from shopsys.web.services import WebBehaviour, WebMetrics, WebServices
from shopsys.web.shutdown import run_before_sigterm

logger = logging.getLogger(__name__)


def create_app(
    make_services: Callable[[WebMetrics], WebServices], *, tracing: Tracing | None = None
) -> Starlette:
    """The Starlette app; ``make_services`` runs in the lifespan, once per process, with the
    metrics the middleware also counts into. With ``tracing``, each request gets a server
    span, and the tracer provider is flushed and shut down after the producer."""
    metrics = WebMetrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        services = make_services(metrics)
        app.state.services = services
        undo_signal = run_before_sigterm(services.begin_shutdown)
        logger.info("web role started")
        try:
            yield
        finally:
            undo_signal()
            logger.info("web role stopping: flushing the producer")
            try:
                await services.close()
            finally:
                if tracing is not None:  # after the producer: the last send spans are ended
                    await asyncio.to_thread(tracing.shutdown)
            logger.info("web role stopped")

    operations = _operations()
    app = Starlette(
        routes=[*(operation.route() for operation in operations), static_files()],
        middleware=[
            *tracing_middleware(tracing),
            Middleware(ObservabilityMiddleware, metrics=metrics),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.openapi = build_document(operations)
    app.router.redirect_slashes = False  # an unknown path is a plain JSON 404, never a redirect
    return app


def _operations() -> list[Operation]:
    return [*api_operations(), *probe_operations(), *page_operations()]


def build_app(kafka: KafkaSettings, web: WebSettings, management: ManagementSettings) -> Starlette:
    """Production wiring from settings and the ``OTEL_*`` environment."""
    return wire_app(
        lambda: KafkaEventPublisher(kafka, publish_timeout=web.publish_timeout_seconds),
        web,
        management,
        topic=kafka.topic,
    )


def wire_app(
    make_publisher: Callable[[], EventPublisher],
    web: WebSettings,
    management: ManagementSettings,
    *,
    topic: str,
) -> Starlette:
    """The app around the publisher ``make_publisher`` builds in the lifespan: the management
    client, the metrics and, when ``OTEL_*`` asks for it, tracing."""
    tracing = tracing_from_env(WEB_SERVICE_NAME)

    def traced(inner: EventPublisher) -> EventPublisher:
        if tracing is None:
            return inner
        from shopsys.tracing.messaging import TracedPublisher

        return TracedPublisher(inner, tracing.tracer, topic=topic)

    def make_services(metrics: WebMetrics) -> WebServices:
        producer = traced(make_publisher())
        metrics.watch_producer(producer.produce_statistics)
        return WebServices(
            publisher=producer,
            reader=HttpManagementReader(
                management.api_url,
                httpcore.AsyncConnectionPool(max_connections=100, keepalive_expiry=5.0),
                timeout=management.request_timeout_seconds,
                catalog_cache_seconds=web.catalog_cache_seconds,
            ),
            settings=WebBehaviour(max_body_bytes=web.max_body_bytes),
            metrics=metrics,
        )

    return create_app(make_services, tracing=tracing)
