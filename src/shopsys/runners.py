"""Run a role's app under uvicorn: SIGTERM drains in-flight requests, then the lifespan ends."""

from __future__ import annotations

import signal
from collections.abc import Callable

import uvicorn
from starlette.applications import Starlette

from shopsys.kafka.producer import EventPublisher
from shopsys.observability import configure_logging
from shopsys.settings import (
    ConsumerSettings,
    KafkaSettings,
    LogSettings,
    ManagementSettings,
    MongoSettings,
    WebSettings,
)


def _serve(app: Starlette, host: str, port: int, *, graceful_seconds: float) -> None:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=max(1, round(graceful_seconds)),
        server_header=False,
    )
    # uvicorn re-raises the signal that stopped it once it has drained; ignoring it then
    # lets a clean SIGTERM/Ctrl-C shutdown exit 0 instead of dying by the signal.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda *_: None)
    uvicorn.Server(config).run()


def run_web(
    kafka: KafkaSettings,
    web: WebSettings,
    management: ManagementSettings,
    log: LogSettings,
    *,
    publisher: Callable[[], EventPublisher] | None = None,
) -> None:
    from shopsys.web.app import build_app

    configure_logging(log)
    _serve(
        build_app(kafka, web, management, publisher=publisher),
        web.host,
        web.port,
        graceful_seconds=web.shutdown_grace_seconds + web.publish_timeout_seconds,
    )


def run_consumer(
    kafka: KafkaSettings,
    mongo: MongoSettings,
    management: ManagementSettings,
    consumer: ConsumerSettings,
    log: LogSettings,
) -> None:
    from shopsys.consumer.app import build_app

    configure_logging(log)
    _serve(
        build_app(kafka, mongo, management, consumer),
        management.host,
        management.port,
        graceful_seconds=5,
    )
