"""The ``shopsys`` command: one image, several roles. Flags override ``SHOPSYS_*`` variables.

Past 300 lines because every command declares its options here, each documented from the setting
it overrides; the commands' work lives in their own modules.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from shopsys import __version__
from shopsys.settings import (
    ConsumerSettings,
    KafkaSettings,
    LogSettings,
    ManagementSettings,
    MongoSettings,
    WebSettings,
)

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


class KafkaSecurityOption(StrEnum):
    plaintext = "plaintext"
    sasl_ssl = "sasl_ssl"


def _setting(model: type[BaseSettings], field: str, text: str, *flags: str) -> Any:
    """A flag documented from the setting it overrides: its variable and its default."""
    variable = f"{model.model_config.get('env_prefix', '')}{field}".upper()
    default = model.model_fields[field].default
    shown = "" if default is None or isinstance(default, SecretStr) else f", {default}"
    return typer.Option(*flags, help=f"{text} (env {variable}{shown})")


KafkaOpt = Annotated[
    str | None,
    _setting(
        KafkaSettings,
        "bootstrap_servers",
        "Kafka bootstrap servers, host:port[,host:port]",
        "--kafka-bootstrap-servers",
    ),
]
TopicOpt = Annotated[str | None, _setting(KafkaSettings, "topic", "Purchases topic", "--topic")]
MongoOpt = Annotated[
    str | None, _setting(MongoSettings, "uri", "MongoDB connection URI", "--mongodb-uri")
]
DatabaseOpt = Annotated[
    str | None,
    _setting(MongoSettings, "database", "MongoDB database", "--mongodb-database"),
]
LogLevelOpt = Annotated[
    str | None,
    _setting(LogSettings, "level", "DEBUG, INFO, WARNING or ERROR", "--log-level"),
]
CacheDirOpt = Annotated[
    Path | None,
    typer.Option(help="Provisioning cache (env SHOPSYS_CACHE_DIR, ~/.cache/shopsys)"),
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


@contextmanager
def _fails_as(what: str, *expected: type[Exception]) -> Iterator[None]:
    """An expected failure of a command: its message on stderr and exit code 1, no traceback."""
    try:
        yield
    except expected as error:
        typer.echo(f"{what}: {error}", err=True)
        raise typer.Exit(1) from error


def _given(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


@app.command("serve-web")
def serve_web(
    host: Annotated[str | None, _setting(WebSettings, "host", "Interface to listen on")] = None,
    port: Annotated[int | None, _setting(WebSettings, "port", "Port of the storefront API")] = None,
    management_api_url: Annotated[
        str | None,
        _setting(ManagementSettings, "api_url", "Base URL of the management API for reads"),
    ] = None,
    kafka_bootstrap_servers: KafkaOpt = None,
    topic: TopicOpt = None,
    publish_timeout: Annotated[
        float | None,
        _setting(
            WebSettings,
            "publish_timeout_seconds",
            "Seconds to wait for Kafka's ack before answering 503",
        ),
    ] = None,
    log_level: LogLevelOpt = None,
) -> None:
    """Run the storefront: the public HTTP API that accepts purchases and produces them to Kafka."""
    from shopsys.runners import run_web
    from shopsys.tracing import TracingConfigError

    with _fails_as("serve-web", TracingConfigError):
        run_web(
            KafkaSettings(**_given(bootstrap_servers=kafka_bootstrap_servers, topic=topic)),
            WebSettings(**_given(host=host, port=port, publish_timeout_seconds=publish_timeout)),
            ManagementSettings(**_given(api_url=management_api_url)),
            LogSettings(**_given(level=log_level)),
        )


@app.command("serve-consumer")
def serve_consumer(
    host: Annotated[
        str | None, _setting(ManagementSettings, "host", "Interface of the management API")
    ] = None,
    port: Annotated[
        int | None, _setting(ManagementSettings, "port", "Port of the management API")
    ] = None,
    kafka_bootstrap_servers: KafkaOpt = None,
    topic: TopicOpt = None,
    consumer_group: Annotated[
        str | None, _setting(KafkaSettings, "consumer_group", "Kafka consumer group")
    ] = None,
    mongodb_uri: MongoOpt = None,
    mongodb_database: DatabaseOpt = None,
    batch_size: Annotated[
        int | None,
        _setting(ConsumerSettings, "batch_size", "Messages per MongoDB bulk write"),
    ] = None,
    log_level: LogLevelOpt = None,
) -> None:
    """Run the consumer: Kafka -> MongoDB, plus the internal management API in the same process."""
    from shopsys.runners import run_consumer
    from shopsys.tracing import TracingConfigError

    with _fails_as("serve-consumer", TracingConfigError):
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
        int | None, _setting(KafkaSettings, "topic_partitions", "Partitions of the topics")
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

    with _fails_as("init failed", InitTimeoutError):
        initialize(
            KafkaSettings(
                **_given(bootstrap_servers=kafka_bootstrap_servers, topic_partitions=partitions)
            ),
            MongoSettings(**_given(uri=mongodb_uri, database=mongodb_database)),
            timeout=timeout,
            log=typer.echo,
            seed_catalog=seed_catalog,
        )


@app.command("kafka-access")
def kafka_access(
    users_dir: Annotated[
        Path,
        typer.Option(
            help="Directory with <role>-username and <role>-password files for the roles "
            "web, consumer, keda and init (a mounted Secret)"
        ),
    ],
    kafka_bootstrap_servers: KafkaOpt = None,
    timeout: Annotated[
        float, typer.Option(help="Give up after this many seconds of Kafka refusing or down")
    ] = 300.0,
) -> None:
    """Set each role's Kafka password and ACLs, as a Kafka admin. Idempotent.

    The admin is the SHOPSYS_KAFKA_SASL_* user (a super user). Each role gets a SCRAM-SHA-512
    password and the ACLs that let it do its part and nothing else; run again with new
    passwords to rotate them."""
    _stop_on_sigterm("kafka-access")
    from shopsys.initialize import InitTimeoutError, grant_kafka_access
    from shopsys.kafka.access import UsersFileError, read_role_users

    with _fails_as("kafka-access failed", InitTimeoutError, UsersFileError):
        grant_kafka_access(
            KafkaSettings(**_given(bootstrap_servers=kafka_bootstrap_servers)),
            read_role_users(users_dir),
            timeout=timeout,
            log=typer.echo,
        )


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

    with _fails_as("smoke test FAILED", SmokeFailedError):
        run_smoke(web_url, timeout=timeout, log=typer.echo)


def _require_devtools(command: str) -> None:
    if importlib.util.find_spec("shopsys.devtools") is None:
        typer.echo(
            f"shopsys {command}: the development tools are not installed here (the image holds"
            " only the roles); run it from a checkout of the repository: pip install -e .",
            err=True,
        )
        raise typer.Exit(2)


@app.command("provision")
def provision(
    cache_dir: CacheDirOpt = None,
    helm: Annotated[bool, typer.Option(help="Also build the pinned helm binary")] = True,
) -> None:
    """Build the local Kafka, MongoDB-wire server and helm into a cache (from a checkout).

    The servers `shopsys dev` and the tests run; installed from a checkout of the repository
    (pip install -e .), not in the image."""
    _require_devtools("provision")
    from shopsys.devtools.provision import ProvisionError, default_cache_dir, provision_all

    with _fails_as("provisioning failed", ProvisionError):
        provisioned = provision_all(cache_dir or default_cache_dir(), typer.echo, include_helm=helm)
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
    cache_dir: CacheDirOpt = None,
    kafka_brokers: Annotated[
        int,
        typer.Option(
            min=1,
            max=5,
            help="Kafka brokers (each also a KRaft voter); from 3 on, topics get replication "
            "factor 3 and min.insync.replicas 2, as in production",
        ),
    ] = 1,
    kafka_security: Annotated[
        KafkaSecurityOption,
        typer.Option(
            help="plaintext, or sasl_ssl: TLS from a local CA, a SCRAM-SHA-512 user per role "
            "and ACLs that let each role do only its part, as the chart's bundled Kafka",
        ),
    ] = KafkaSecurityOption.plaintext,
) -> None:
    """Run the whole system on this machine without Kubernetes (from a checkout).

    Kafka, FerretDB and both roles as local processes, until Ctrl-C or SIGTERM.

    The default is the quick shape: one plaintext Kafka broker. `--kafka-brokers 3
    --kafka-security sasl_ssl` runs the production shape."""
    _require_devtools("dev")
    from shopsys.devtools.local_system import run_local_system

    with _fails_as("shopsys dev failed", RuntimeError):  # ProvisionError is a RuntimeError
        run_local_system(
            web_port=web_port,
            management_port=management_port,
            data_dir=data_dir,
            cache_dir=cache_dir,
            kafka_brokers=kafka_brokers,
            kafka_security=kafka_security.value,
        )


@app.command("version")
def version() -> None:
    """Print the shopsys version."""
    typer.echo(__version__)


from shopsys.loadgen.command import load as _load  # noqa: E402

app.command("load")(_load)
