"""setup-env.sh run for real against stub kubectl/helm/kind/docker that record their calls."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.chart import chartkit
from tests.chart.chartkit import SETUP_ENV

STUB = Path(__file__).parent / "stubs" / "fake-tool"
# The only external commands setup-env.sh may need besides the stubbed tools.
SYSTEM_COMMANDS = ("bash", "cat", "dirname", "date")
ALL_TOOLS = ("kubectl", "helm", "kind", "docker", "minikube")


@dataclass
class Sandbox:
    state: Path
    bin: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {"PATH": str(self.bin), "STUB_STATE_DIR": str(self.state), "HOME": str(self.state)}
        return subprocess.run(
            ["/bin/bash", str(SETUP_ENV), *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
            cwd=self.state,
        )

    def calls(self) -> list[str]:
        log = self.state / "calls.log"
        return log.read_text().splitlines() if log.exists() else []

    def set_context(self, context: str) -> None:
        (self.state / "context").write_text(context + "\n")


def make_sandbox(root: Path, tools: Iterable[str] = ALL_TOOLS) -> Sandbox:
    state, bin_dir = root / "state", root / "bin"
    state.mkdir()
    bin_dir.mkdir()
    for command in SYSTEM_COMMANDS:
        found = shutil.which(command, path=os.defpath + ":/usr/local/bin")
        assert found, f"{command} is needed to run setup-env.sh"
        (bin_dir / command).symlink_to(found)
    for tool in tools:
        (bin_dir / tool).symlink_to(STUB)
    return Sandbox(state, bin_dir)


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    return make_sandbox(tmp_path)


def index_of(calls: list[str], pattern: str) -> int:
    for number, call in enumerate(calls):
        if re.search(pattern, call):
            return number
    raise AssertionError(f"no call matches {pattern!r} in:\n" + "\n".join(calls))


def test_help(sandbox: Sandbox, keda_version: str) -> None:
    proc = sandbox.run("--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Usage: ./setup-env.sh")
    assert f"KEDA {keda_version}" in proc.stdout
    assert sandbox.calls() == [], "--help must not touch any tool"


def test_fresh_machine_creates_kind_and_installs_everything_in_order(
    sandbox: Sandbox, keda_version: str
) -> None:
    proc = sandbox.run()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = sandbox.calls()
    steps = [
        r"^kubectl config current-context$",
        r"^kind get clusters$",
        r"^kind create cluster --name shopsys ",
        r"^kubectl cluster-info$",
        r"^docker build --tag shopsys:dev\.\d{14} /",
        r"^kind load docker-image shopsys:dev\.\d{14} --name shopsys$",
        r"^kubectl get apiservice v1beta1\.metrics\.k8s\.io$",
        r"^helm upgrade --install metrics-server metrics-server .*--kubelet-insecure-tls",
        rf"^helm upgrade --install keda keda .*--version {re.escape(keda_version)} "
        r".*--namespace keda --create-namespace --wait",
        r"^helm upgrade --install shopping-system /\S+/chart "
        r"--namespace shopping-system --create-namespace ",
        r"^helm test shopping-system --namespace shopping-system --logs",
    ]
    positions = [index_of(calls, step) for step in steps]
    assert positions == sorted(positions), "\n".join(calls)
    chart_install = calls[positions[-2]]
    assert "--set image.repository=shopsys" in chart_install
    assert re.search(r"--set image\.tag=dev\.\d{14}", chart_install)
    assert "--wait --wait-for-jobs" in chart_install
    assert "port-forward svc/shopping-system-web" in proc.stdout
    assert "-- load --web-url http://shopping-system-web:80" in proc.stdout


def test_second_run_reuses_the_cluster_and_metrics_server(sandbox: Sandbox) -> None:
    assert sandbox.run("--tag", "v1").returncode == 0
    first = sandbox.calls()
    assert sum("kind create cluster" in call for call in first) == 1
    proc = sandbox.run("--tag", "v1")
    assert proc.returncode == 0, proc.stderr
    second = sandbox.calls()[len(first) :]
    assert not any("kind create cluster" in call for call in second), second
    assert not any("metrics-server" in call and call.startswith("helm") for call in second), second
    assert any(call.startswith("helm upgrade --install keda") for call in second)
    assert any(call.startswith("helm upgrade --install shopping-system") for call in second)
    assert "metrics-server: already present" in proc.stdout


def test_existing_kind_cluster_without_context_is_reused(sandbox: Sandbox) -> None:
    (sandbox.state / "kind-clusters").write_text("shopsys\n")
    proc = sandbox.run("--tag", "v1")
    assert proc.returncode == 0, proc.stderr
    calls = sandbox.calls()
    assert "kubectl config use-context kind-shopsys" in calls
    assert not any("kind create cluster" in call for call in calls)


@pytest.mark.parametrize("missing", ["kubectl", "helm", "docker"])
def test_each_missing_tool_is_named(tmp_path: Path, missing: str) -> None:
    sandbox = make_sandbox(tmp_path, [tool for tool in ALL_TOOLS if tool != missing])
    proc = sandbox.run()
    assert proc.returncode != 0
    assert f"error: {missing}" in proc.stderr, proc.stderr
    assert "is required" in proc.stderr, proc.stderr
    others = {"kubectl", "helm", "docker"} - {missing}
    assert not any(f"error: {other}" in proc.stderr for other in others), proc.stderr
    assert sandbox.calls() == [], "nothing may run before the tools are checked"


def test_all_missing_tools_are_reported_at_once(tmp_path: Path) -> None:
    sandbox = make_sandbox(tmp_path, [])
    proc = sandbox.run()
    assert proc.returncode != 0
    for tool, hint in [
        ("kubectl", "kubernetes.io"),
        ("helm", "helm.sh"),
        ("docker", "docs.docker.com"),
    ]:
        assert re.search(rf"error: {tool}\b.*is required.*{re.escape(hint)}", proc.stderr), (
            proc.stderr
        )


def test_no_context_and_no_kind_is_a_clear_error(tmp_path: Path) -> None:
    sandbox = make_sandbox(tmp_path, ["kubectl", "helm", "docker"])
    proc = sandbox.run()
    assert proc.returncode != 0
    assert "no current kube context and kind is not installed" in proc.stderr
    assert not any(call.startswith(("docker", "helm")) for call in sandbox.calls())


def test_remote_cluster_needs_a_registry(sandbox: Sandbox) -> None:
    sandbox.set_context("prod-eu")
    proc = sandbox.run()
    assert proc.returncode != 0
    assert "pass --registry REGISTRY" in proc.stderr
    assert not any(call.startswith(("docker", "helm")) for call in sandbox.calls())


def test_remote_cluster_with_registry_pushes_the_image(sandbox: Sandbox) -> None:
    sandbox.set_context("prod-eu")
    proc = sandbox.run("--registry", "registry.example/shop/", "--tag", "1.2.3", "--no-test")
    assert proc.returncode == 0, proc.stderr
    calls = sandbox.calls()
    build = index_of(calls, r"^docker build --tag registry\.example/shop/shopsys:1\.2\.3 ")
    push = index_of(calls, r"^docker push registry\.example/shop/shopsys:1\.2\.3$")
    install = index_of(
        calls, r"--set image\.repository=registry\.example/shop/shopsys --set image\.tag=1\.2\.3"
    )
    assert build < push < install
    assert not any(call.startswith(("kind ", "minikube ")) for call in calls)
    assert not any("--kubelet-insecure-tls" in call for call in calls), (
        "remote kubelets have real certs"
    )
    assert not any(call.startswith("helm test") for call in calls)


def test_minikube_gets_the_image_loaded(sandbox: Sandbox) -> None:
    sandbox.set_context("minikube")
    proc = sandbox.run("--tag", "t1")
    assert proc.returncode == 0, proc.stderr
    calls = sandbox.calls()
    assert index_of(calls, r"^docker build") < index_of(calls, r"^minikube image load shopsys:t1$")


def test_extra_values_reach_the_chart_install(sandbox: Sandbox) -> None:
    values = chartkit.scenario_file("external-kafka-mongodb-values")
    proc = sandbox.run("--tag", "t1", "--skip-build", "--values", str(values))
    assert proc.returncode == 0, proc.stderr
    calls = sandbox.calls()
    assert not any(call.startswith("docker build") for call in calls)
    index_of(
        calls, rf"^helm upgrade --install shopping-system .* --values {re.escape(str(values))} "
    )


def test_unknown_option_fails(sandbox: Sandbox) -> None:
    proc = sandbox.run("--frobnicate")
    assert proc.returncode != 0
    assert "unknown option: --frobnicate" in proc.stderr
