"""Helpers for the chart tests: rendering, the CRD schemas (KEDA, Prometheus Operator), and the
tools the tests run.

Nothing here skips: a missing tool is a failure with a message that says how to get it.

Past 300 lines: rendering, schema loading and tool provisioning that every chart test shares.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "chart"
SETUP_ENV = REPO_ROOT / "setup-env.sh"
DOCKERFILE = REPO_ROOT / "Dockerfile"

RELEASE = "shopping-system"
NAMESPACE = "shopping-system"
# The Kubernetes minor versions the chart supports; every one is rendered and validated.
KUBE_VERSIONS = ("1.31.0", "1.32.0", "1.33.0", "1.34.0", "1.35.0")
KEDA_API = "keda.sh/v1alpha1"

CHECKOV_VERSION = "3.3.30"
KEDA_MODULE = "github.com/kedacore/keda/v2"
MONITORING_API = "monitoring.coreos.com/v1"
# The Prometheus Operator whose CRDs the monitoring objects are validated against.
PROMETHEUS_OPERATOR_MODULE = "github.com/prometheus-operator/prometheus-operator"
PROMETHEUS_OPERATOR_VERSION = "0.93.0"


def scenarios() -> list[str]:
    """The chart's ci/*.yaml values files, by stem: one scenario each."""
    return sorted(path.stem for path in (CHART_DIR / "ci").glob("*.yaml"))


def scenario_file(name: str) -> Path:
    return CHART_DIR / "ci" / f"{name}.yaml"


def cache_dir() -> Path:
    """`$SHOPSYS_CACHE_DIR` when set, else ~/.cache/shopsys (shared with the rest of the suite)."""
    configured = os.environ.get("SHOPSYS_CACHE_DIR", "").strip()
    path = Path(configured).expanduser() if configured else Path.home() / ".cache" / "shopsys"
    path.mkdir(parents=True, exist_ok=True)
    return path


def pinned_keda_version() -> str:
    """The KEDA version setup-env.sh installs: the single source of truth for the tests too."""
    match = re.search(
        r'^readonly KEDA_VERSION="([0-9]+\.[0-9]+\.[0-9]+)"$', SETUP_ENV.read_text(), re.M
    )
    if match is None:
        pytest.fail(f'{SETUP_ENV} must pin KEDA as: readonly KEDA_VERSION="X.Y.Z"')
    return match.group(1)


def run(
    args: list[str | Path], *, timeout: float = 300, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **kwargs,
    )


# --- rendering -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderKey:
    scenario: str
    kube_version: str
    keda: bool

    def __str__(self) -> str:
        return f"{self.scenario}@{self.kube_version}{'+keda' if self.keda else '-keda'}"


def template_args(
    helm: Path,
    kube_version: str,
    *,
    keda: bool,
    values: Iterable[Path] = (),
    sets: Iterable[str] = (),
    apis: Iterable[str] = (),
) -> list[str | Path]:
    args: list[str | Path] = [
        helm,
        "template",
        RELEASE,
        CHART_DIR,
        "--namespace",
        NAMESPACE,
        "--kube-version",
        kube_version,
    ]
    for api in [KEDA_API] * keda + list(apis):
        args += ["--api-versions", api]
    for path in values:
        args += ["--values", path]
    for assignment in sets:
        args += ["--set", assignment]
    return args


def render(helm: Path, key: RenderKey) -> list[dict[str, Any]]:
    proc = run(
        template_args(helm, key.kube_version, keda=key.keda, values=[scenario_file(key.scenario)])
    )
    if proc.returncode != 0:
        pytest.fail(f"helm template failed for {key}:\n{proc.stderr}")
    return parse_manifests(proc.stdout)


def parse_manifests(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def by_kind(docs: Iterable[Mapping[str, Any]], kind: str) -> list[Mapping[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs: Iterable[Mapping[str, Any]], kind: str, name: str) -> Mapping[str, Any]:
    found = [doc for doc in docs if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(found) == 1, f"expected exactly one {kind}/{name}, found {len(found)}"
    return found[0]


WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job", "Pod")


def pod_spec(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    return doc["spec"] if doc["kind"] == "Pod" else doc["spec"]["template"]["spec"]


def pod_labels(doc: Mapping[str, Any]) -> Mapping[str, str]:
    meta = doc["metadata"] if doc["kind"] == "Pod" else doc["spec"]["template"]["metadata"]
    return meta.get("labels", {})


def workloads(docs: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    return (doc for doc in docs if doc["kind"] in WORKLOAD_KINDS)


def container_env(docs: list[dict[str, Any]], container: Mapping[str, Any]) -> dict[str, Any]:
    """A container's environment: its ConfigMap envFrom sources, then its env entries."""
    env: dict[str, Any] = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef")
        if ref:
            env.update(one(docs, "ConfigMap", ref["name"])["data"])
    for entry in container.get("env", []):
        env[entry["name"]] = entry.get("value", entry.get("valueFrom"))
    return env


# --- CRD schemas (KEDA, Prometheus Operator) ---------------------------------------------------


def go_binary() -> str:
    go = shutil.which("go")
    if go is None:
        pytest.fail(
            "the Go toolchain is required (go on PATH) to fetch the KEDA and Prometheus Operator"
            " CRDs with `go mod download`"
        )
    return go


def go_module_dir(module: str, version: str) -> Path:
    """A Go module at `version`, downloaded into the shared cache by the module proxy."""
    root = cache_dir()
    env = {
        **os.environ,
        "GOMODCACHE": str(root / "gomod"),
        "GOFLAGS": "-modcacherw",
        "GO111MODULE": "on",
        "GOWORK": "off",
    }
    proc = run(
        [go_binary(), "mod", "download", "-json", f"{module}@v{version}"],
        cwd=root,
        env=env,
        timeout=900,
    )
    try:
        info = json.loads(proc.stdout)
    except json.JSONDecodeError:
        info = {}
    if proc.returncode != 0 or "Error" in info or "Dir" not in info:
        pytest.fail(f"go mod download {module}@v{version} failed:\n{proc.stdout}\n{proc.stderr}")
    return Path(info["Dir"])


def keda_module_dir(version: str) -> Path:
    return go_module_dir(KEDA_MODULE, version)


def strict_schema(schema: Any) -> Any:
    """Reject unknown fields the way the API server's structural pruning drops them."""
    if isinstance(schema, dict):
        out = {key: strict_schema(value) for key, value in schema.items()}
        if (
            out.get("type") == "object"
            and "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        if out.get("x-kubernetes-int-or-string"):
            out.pop("type", None)
            out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        return out
    if isinstance(schema, list):
        return [strict_schema(item) for item in schema]
    return schema


class _CrdLoader(yaml.SafeLoader):
    """YAML 1.2 reads a bare `=` as a string; PyYAML's 1.1 resolver makes it a `value` tag
    (the Prometheus Operator's CRDs list `=` among the relabel actions)."""


_CrdLoader.add_constructor("tag:yaml.org,2002:value", yaml.SafeLoader.construct_yaml_str)


def load_crd(path: Path) -> dict[str, Any]:
    crd: dict[str, Any] = yaml.load(path.read_text(), Loader=_CrdLoader)  # noqa: S506 - a SafeLoader
    return crd


def crd_schemas(paths: Iterable[Path]) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> strict JSON schema, for every served version of these CRD files."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(paths):
        crd = load_crd(path)
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if not version.get("served", True):
                continue
            schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
            schema = strict_schema(schema)
            # Pin apiVersion/kind, which the CRD schema leaves as free strings.
            schema["properties"]["apiVersion"] = {"const": f"{group}/{version['name']}"}
            schema["properties"]["kind"] = {"const": kind}
            schema["required"] = sorted(
                {*schema.get("required", []), "apiVersion", "kind", "metadata"}
            )
            schemas[(f"{group}/{version['name']}", kind)] = schema
    if not schemas:
        pytest.fail(f"no CRDs found in {list(paths)}")
    return schemas


def keda_crd_schemas(module_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """From config/crd/bases of the KEDA module."""
    return crd_schemas((module_dir / "config" / "crd" / "bases").glob("keda.sh_*.yaml"))


def prometheus_operator_crd_files() -> list[Path]:
    """The CRDs kube-prometheus-stack installs, from the pinned prometheus-operator module."""
    module = go_module_dir(PROMETHEUS_OPERATOR_MODULE, PROMETHEUS_OPERATOR_VERSION)
    files = sorted((module / "example" / "prometheus-operator-crd").glob("*.yaml"))
    if not files:
        pytest.fail(f"no CRDs under {module}/example/prometheus-operator-crd")
    return files


# --- tools ---------------------------------------------------------------------------------------


def venv_tool(name: str, package: str) -> Path:
    """A console script installed next to the running interpreter (the project venv)."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return candidate
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"{name} not found: install the test extra"
            f" (pip install -e '.[test]', package {package})"
        )
    return Path(found)


def checkov_binary() -> Path:
    """checkov in its own venv under the cache: its pinned dependencies clash with the project's."""
    venv = cache_dir() / f"checkov-{CHECKOV_VERSION}"
    binary = venv / "bin" / "checkov"
    stamp = venv / ".complete"
    if stamp.exists() and binary.exists():
        return binary
    if venv.exists():
        shutil.rmtree(venv)
    steps = [
        [sys.executable, "-m", "venv", venv],
        [
            venv / "bin" / "python",
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"checkov=={CHECKOV_VERSION}",
        ],
    ]
    for step in steps:
        proc = run(step, timeout=1200)
        if proc.returncode != 0:
            pytest.fail(
                f"installing checkov {CHECKOV_VERSION} failed:"
                f" {' '.join(map(str, step))}\n{proc.stderr}"
            )
    stamp.write_text(CHECKOV_VERSION)
    return binary
