"""Session fixtures: the real Kafka broker and MongoDB-wire server (FerretDB), helm, and the
OpenTelemetry Collector of the tracing tests.

Provisioned once (cached under $SHOPSYS_CACHE_DIR or ~/.cache/shopsys), started lazily when a
test asks for them and stopped at session end. Set SHOPSYS_TEST_KAFKA_BOOTSTRAP /
SHOPSYS_TEST_MONGODB_URI to run against external servers instead. A missing toolchain fails
the tests that need it with a clear message; it never skips them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from shopsys.devtools.provision import (
    FerretDBServer,
    KafkaBroker,
    Provisioned,
    ProvisionError,
    default_cache_dir,
    ensure_ferretdb,
    ensure_helm,
    ensure_kafka,
)
from shopsys.devtools.provision.kafka_broker import DEFAULT_JVM_OPTIONS
from tests.support.collector import ensure_otelcol

KAFKA_ENV = "SHOPSYS_TEST_KAFKA_BOOTSTRAP"
MONGODB_ENV = "SHOPSYS_TEST_MONGODB_URI"
T = TypeVar("T")


def _terminal_progress(config: pytest.Config) -> Callable[[str], None]:
    """Progress lines that reach the terminal even while pytest captures output."""
    capman = config.pluginmanager.getplugin("capturemanager")

    def progress(message: str) -> None:
        line = f"\n[shopsys provision] {message}\n"
        if capman is None:
            sys.stderr.write(line)
            sys.stderr.flush()
            return
        with capman.global_and_fixture_disabled():
            sys.stderr.write(line)
            sys.stderr.flush()

    return progress


def _provision(step: Callable[[], T]) -> T:
    try:
        return step()
    except ProvisionError as error:  # includes ToolchainMissingError: a failure, not a skip
        message = str(error)
    pytest.fail(message, pytrace=False)


@pytest.fixture(scope="session")
def provision_progress(pytestconfig: pytest.Config) -> Callable[[str], None]:
    return _terminal_progress(pytestconfig)


@pytest.fixture(scope="session")
def provision_cache_dir() -> Path:
    return default_cache_dir()


@pytest.fixture(scope="session")
def kafka_libs(provision_cache_dir: Path, provision_progress: Callable[[str], None]) -> Path:
    return _provision(lambda: ensure_kafka(provision_cache_dir, provision_progress))


@pytest.fixture(scope="session")
def ferretdb_binary(provision_cache_dir: Path, provision_progress: Callable[[str], None]) -> Path:
    return _provision(lambda: ensure_ferretdb(provision_cache_dir, provision_progress))


@pytest.fixture(scope="session")
def otelcol_binary(provision_cache_dir: Path, provision_progress: Callable[[str], None]) -> Path:
    """The OpenTelemetry Collector the tracing tests export to (built on first use)."""
    return _provision(lambda: ensure_otelcol(provision_cache_dir, provision_progress))


@pytest.fixture(scope="session")
def helm_binary(provision_cache_dir: Path, provision_progress: Callable[[str], None]) -> Path:
    return _provision(lambda: ensure_helm(provision_cache_dir, provision_progress))


@pytest.fixture(scope="session")
def provisioned(kafka_libs: Path, ferretdb_binary: Path, helm_binary: Path) -> Provisioned:
    return Provisioned(kafka_libs=kafka_libs, ferretdb=ferretdb_binary, helm=helm_binary)


@pytest.fixture(scope="session")
def kafka_jvm_options() -> tuple[str, ...]:
    """How the local broker's JVM runs: tuned to start fast (the benchmarks override it)."""
    return DEFAULT_JVM_OPTIONS


@pytest.fixture(scope="session")
def kafka_broker(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    kafka_jvm_options: tuple[str, ...],
) -> Iterator[KafkaBroker | None]:
    """The session's local broker (restartable by fault tests), or None with an external one."""
    if os.environ.get(KAFKA_ENV):
        yield None
        return
    libs: Path = request.getfixturevalue("kafka_libs")
    broker = KafkaBroker(libs, tmp_path_factory.mktemp("kafka"), jvm_options=kafka_jvm_options)
    try:
        _provision(lambda: broker.start(timeout=120))
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka_broker: KafkaBroker | None) -> str:
    if kafka_broker is None:
        return os.environ[KAFKA_ENV]
    return kafka_broker.bootstrap_servers


@pytest.fixture(scope="session")
def ferretdb_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FerretDBServer | None]:
    """The session's local FerretDB (restartable by fault tests), or None with an external one."""
    if os.environ.get(MONGODB_ENV):
        yield None
        return
    binary: Path = request.getfixturevalue("ferretdb_binary")
    server = FerretDBServer(binary, tmp_path_factory.mktemp("ferretdb"))
    try:
        _provision(lambda: server.start(timeout=60))
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mongodb_uri(ferretdb_server: FerretDBServer | None) -> str:
    if ferretdb_server is None:
        return os.environ[MONGODB_ENV]
    return ferretdb_server.uri
