"""Run a role's app under uvicorn: SIGTERM drains in-flight requests, then the lifespan ends."""

from __future__ import annotations

import signal

import uvicorn
from starlette.applications import Starlette

from shopsys import settings
from shopsys.http.observability import configure_logging


def serve(app: Starlette, host: str, port: int, *, graceful_seconds: float) -> None:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        loop="uvloop",  # the event loop and HTTP parser uvicorn itself recommends
        http="httptools",
        timeout_graceful_shutdown=max(1, round(graceful_seconds)),
        server_header=False,
    )
    # uvicorn re-raises the signal that stopped it once it has drained; ignoring it then
    # lets a clean SIGTERM/Ctrl-C shutdown exit 0 instead of dying by the signal.
    for stop_signal in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop_signal, lambda *_: None)
    uvicorn.Server(config).run()


def run_web(
    kafka: settings.KafkaSettings,
    web: settings.WebSettings,
    management: settings.ManagementSettings,
    log: settings.LogSettings,
) -> None:
    from shopsys.web.app import build_app

    configure_logging(log)
    serve(
        build_app(kafka, web, management),
        web.host,
        web.port,
        graceful_seconds=web.shutdown_grace_seconds + web.publish_timeout_seconds,
    )


def run_consumer(
    kafka: settings.KafkaSettings,
    mongo: settings.MongoSettings,
    management: settings.ManagementSettings,
    consumer: settings.ConsumerSettings,
    log: settings.LogSettings,
) -> None:
    from shopsys.management.app import build_app

    configure_logging(log)
    serve(
        build_app(kafka, mongo, management, consumer, settings.OpsSettings()),
        management.host,
        management.port,
        graceful_seconds=5,
    )
