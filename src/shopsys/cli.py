"""The ``shopsys`` command: one image, several roles. Flags override ``SHOPSYS_*`` variables."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from shopsys import __version__

app = typer.Typer(
    name="shopsys",
    help=(
        "shopsys: a reference event-driven shopping system. The storefront (serve-web) "
        "produces purchase events to Kafka; the consumer (serve-consumer) writes them to "
        "MongoDB and serves the management API. Every option can also be set with the "
        "SHOPSYS_* environment variable named in its help; a flag wins over the variable."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

KafkaOpt = Annotated[
    str | None,
    typer.Option(
        "--kafka-bootstrap-servers",
        help="Kafka bootstrap servers, host:port[,host:port] (env SHOPSYS_KAFKA_BOOTSTRAP_SERVERS)",
    ),
]
TopicOpt = Annotated[
    str | None, typer.Option("--topic", help="Purchases topic (env SHOPSYS_KAFKA_TOPIC)")
]
MongoOpt = Annotated[
    str | None,
    typer.Option("--mongodb-uri", help="MongoDB connection URI (env SHOPSYS_MONGODB_URI)"),
]
DatabaseOpt = Annotated[
    str | None,
    typer.Option("--mongodb-database", help="MongoDB database (env SHOPSYS_MONGODB_DATABASE)"),
]
LogLevelOpt = Annotated[
    str | None,
    typer.Option("--log-level", help="DEBUG, INFO, WARNING or ERROR (env SHOPSYS_LOG_LEVEL)"),
]


def _stop_on_sigterm(command: str) -> None:
    """One-shot commands run as PID 1 in a Job or a helm test Pod, where an unhandled SIGTERM is
    ignored and a deletion waits out the grace period: end at once instead.

    A Python handler would run only when the main thread is back in the interpreter, which a
    blocking Kafka call delays by its whole timeout. So SIGTERM is blocked (the kernel then
    queues it even for PID 1) and a thread waits for it and ends the process.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})

    def wait_for_sigterm() -> None:
        signal.sigwait({signal.SIGTERM})
        sys.stdout.flush()
        print(f"{command}: stopped by SIGTERM", file=sys.stderr, flush=True)
        os._exit(128 + signal.SIGTERM)

    threading.Thread(target=wait_for_sigterm, name="sigterm", daemon=True).start()


def _given(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


@app.command("serve-web")
def serve_web(
    host: Annotated[
        str | None, typer.Option(help="Interface to listen on (env SHOPSYS_WEB_HOST, 0.0.0.0)")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port of the storefront API (env SHOPSYS_WEB_PORT, 8000)")
    ] = None,
    management_api_url: Annotated[
        str | None,
        typer.Option(
            help="Base URL of the management API for reads (env SHOPSYS_MANAGEMENT_API_URL)"
        ),
    ] = None,
    kafka_bootstrap_servers: KafkaOpt = None,
    topic: TopicOpt = None,
    publish_timeout: Annotated[
        float | None,
        typer.Option(
            help="Seconds to wait for Kafka's ack before answering 503 "
            "(env SHOPSYS_WEB_PUBLISH_TIMEOUT_SECONDS, 5)"
        ),
    ] = None,
    log_level: LogLevelOpt = None,
) -> None:
    """Run the storefront: the public HTTP API that accepts purchases and produces them to Kafka."""
    from shopsys.runners import run_web
    from shopsys.settings import KafkaSettings, LogSettings, ManagementSettings, WebSettings

    run_web(
        KafkaSettings(**_given(bootstrap_servers=kafka_bootstrap_servers, topic=topic)),
        WebSettings(**_given(host=host, port=port, publish_timeout_seconds=publish_timeout)),
        ManagementSettings(**_given(api_url=management_api_url)),
        LogSettings(**_given(level=log_level)),
    )


@app.command("serve-consumer")
def serve_consumer(
    host: Annotated[
        str | None,
        typer.Option(help="Interface of the management API (env SHOPSYS_MANAGEMENT_HOST, 0.0.0.0)"),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(help="Port of the management API (env SHOPSYS_MANAGEMENT_PORT, 8080)"),
    ] = None,
    kafka_bootstrap_servers: KafkaOpt = None,
    topic: TopicOpt = None,
    consumer_group: Annotated[
        str | None,
        typer.Option(
            help="Kafka consumer group (env SHOPSYS_KAFKA_CONSUMER_GROUP, shopsys-consumer)"
        ),
    ] = None,
    mongodb_uri: MongoOpt = None,
    mongodb_database: DatabaseOpt = None,
    batch_size: Annotated[
        int | None,
        typer.Option(help="Messages per MongoDB bulk write (env SHOPSYS_CONSUMER_BATCH_SIZE, 500)"),
    ] = None,
    log_level: LogLevelOpt = None,
) -> None:
    """Run the consumer: Kafka -> MongoDB, plus the internal management API in the same process."""
    from shopsys.runners import run_consumer
    from shopsys.settings import (
        ConsumerSettings,
        KafkaSettings,
        LogSettings,
        ManagementSettings,
        MongoSettings,
    )

    run_consumer(
        KafkaSettings(
            **_given(
                bootstrap_servers=kafka_bootstrap_servers,
                topic=topic,
                consumer_group=consumer_group,
            )
        ),
        MongoSettings(**_given(uri=mongodb_uri, database=mongodb_database)),
        ManagementSettings(**_given(host=host, port=port)),
        ConsumerSettings(**_given(batch_size=batch_size)),
        LogSettings(**_given(level=log_level)),
    )


@app.command("init")
def init(
    kafka_bootstrap_servers: KafkaOpt = None,
    mongodb_uri: MongoOpt = None,
    mongodb_database: DatabaseOpt = None,
    partitions: Annotated[
        int | None,
        typer.Option(help="Partitions of the topics (env SHOPSYS_KAFKA_TOPIC_PARTITIONS, 12)"),
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Give up after this many seconds of Kafka/MongoDB being down")
    ] = 300.0,
    seed_catalog: Annotated[
        bool, typer.Option(help="Seed the default catalog when the products collection is empty")
    ] = True,
) -> None:
    """Create the Kafka topics, the MongoDB indexes and the default catalog. Idempotent."""
    _stop_on_sigterm("init")
    from shopsys.initialize import InitTimeoutError, initialize
    from shopsys.settings import KafkaSettings, MongoSettings

    try:
        initialize(
            KafkaSettings(
                **_given(bootstrap_servers=kafka_bootstrap_servers, topic_partitions=partitions)
            ),
            MongoSettings(**_given(uri=mongodb_uri, database=mongodb_database)),
            timeout=timeout,
            log=typer.echo,
            seed_catalog=seed_catalog,
        )
    except InitTimeoutError as error:
        typer.echo(f"init failed: {error}", err=True)
        raise typer.Exit(1) from error


@app.command("smoke")
def smoke(
    web_url: Annotated[
        str, typer.Option(help="Base URL of the storefront (serve-web)")
    ] = "http://localhost:8000",
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the purchase")] = 60.0,
) -> None:
    """Buy one item through the storefront and read it back: exit 0 when the system works."""
    _stop_on_sigterm("smoke")
    from shopsys.smoke import SmokeFailedError, run_smoke

    try:
        run_smoke(web_url, timeout=timeout, log=typer.echo)
    except SmokeFailedError as error:
        typer.echo(f"smoke test FAILED: {error}", err=True)
        raise typer.Exit(1) from error


@app.command("provision")
def provision(
    cache_dir: Annotated[
        Path | None,
        typer.Option(help="Cache directory (env SHOPSYS_CACHE_DIR, ~/.cache/shopsys)"),
    ] = None,
    helm: Annotated[bool, typer.Option(help="Also build the pinned helm binary")] = True,
) -> None:
    """Fetch and build the local Kafka, MongoDB-wire server (FerretDB) and helm into a cache."""
    from shopsys.provision import (
        ProvisionError,
        ToolchainMissingError,
        default_cache_dir,
        provision_all,
    )

    try:
        provisioned = provision_all(cache_dir or default_cache_dir(), typer.echo, include_helm=helm)
    except (ToolchainMissingError, ProvisionError) as error:
        typer.echo(f"provisioning failed: {error}", err=True)
        raise typer.Exit(1) from error
    typer.echo(f"kafka={provisioned.kafka_libs}")
    typer.echo(f"ferretdb={provisioned.ferretdb}")
    if provisioned.helm is not None:
        typer.echo(f"helm={provisioned.helm}")


@app.command("dev")
def dev(
    web_port: Annotated[int, typer.Option(help="Port of the storefront on 127.0.0.1")] = 8000,
    management_port: Annotated[int, typer.Option(help="Port of the management API")] = 8080,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Keep Kafka and MongoDB data here across runs (default: a temp dir)"),
    ] = None,
    cache_dir: Annotated[
        Path | None,
        typer.Option(help="Provisioning cache (env SHOPSYS_CACHE_DIR, ~/.cache/shopsys)"),
    ] = None,
) -> None:
    """Run the whole system on this machine without Kubernetes, until Ctrl-C or SIGTERM."""
    from shopsys.local_system import run_local_system
    from shopsys.provision import ProvisionError, ToolchainMissingError

    try:
        run_local_system(
            web_port=web_port,
            management_port=management_port,
            data_dir=data_dir,
            cache_dir=cache_dir,
        )
    except (ToolchainMissingError, ProvisionError, RuntimeError) as error:
        typer.echo(f"shopsys dev failed: {error}", err=True)
        raise typer.Exit(1) from error


@app.command("version")
def version() -> None:
    """Print the shopsys version."""
    typer.echo(__version__)


from shopsys.loadgen.command import load as _load  # noqa: E402

app.command("load")(_load)
