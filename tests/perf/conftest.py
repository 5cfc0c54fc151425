"""The benchmarks measure a broker as it runs for real traffic, not as it starts fastest."""

from __future__ import annotations

import pytest

from shopsys.devtools.provision.kafka_broker import SERVER_JVM_OPTIONS


@pytest.fixture(scope="session")
def kafka_jvm_options() -> tuple[str, ...]:
    return SERVER_JVM_OPTIONS
