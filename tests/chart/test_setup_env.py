"""setup-env.sh run for real against stub kubectl/helm/kind/docker that record their calls.

Past 300 lines: every path through setup-env.sh against one sandbox of fake tools.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.chart import chartkit
from tests.chart.chartkit import SETUP_ENV

STUB = Path(__file__).parent / "stubs" / "fake-tool"
# The only external commands setup-env.sh may need besides the stubbed tools.
SYSTEM_COMMANDS = ("bash", "cat", "dirname", "date", "mktemp", "rm", "awk", "sort", "head", "cp")
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

    def image_values(self) -> dict[str, object]:
        """The image values setup-env.sh handed to the chart install (first --values file)."""
        loaded = yaml.safe_load((self.state / "image-values.yaml").read_text())
        assert isinstance(loaded, dict)
        return loaded


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
        r"^kubectl get nodes -o jsonpath=",
        r"^docker build --tag shopsys:dev\.\d{14} /",
        r"^kind load docker-image shopsys:dev\.\d{14} --name shopsys$",
        r"^kubectl get --raw /apis/metrics\.k8s\.io/v1beta1/nodes$",
        r"^helm upgrade --install metrics-server metrics-server .*--kubelet-insecure-tls",
        r"^kubectl get deployments --all-namespaces -l app=keda-operator ",
        rf"^helm upgrade --install keda keda .*--version {re.escape(keda_version)} "
        r".*--namespace keda --create-namespace --wait",
        r"^kubectl create namespace shopping-system$",
        r"^kubectl label namespace shopping-system "
        r"pod-security\.kubernetes\.io/enforce=restricted$",
        r"^helm upgrade --install shopping-system /\S+/chart --namespace shopping-system ",
        r"^helm test shopping-system --namespace shopping-system --timeout",
    ]
    positions = [index_of(calls, step) for step in steps]
    assert positions == sorted(positions), "\n".join(calls)
    chart_install = calls[positions[-2]]
    assert "--set" not in chart_install
    assert "--wait --wait-for-jobs" in chart_install
    image = sandbox.image_values()["image"]
    assert isinstance(image, dict)
    assert image["repository"] == "shopsys"
    assert re.fullmatch(r"dev\.\d{14}", image["tag"])
    assert calls[-1] == "helm get notes shopping-system --namespace shopping-system"
    assert "NOTES of shopping-system" in proc.stdout


def test_second_run_reuses_the_cluster_keda_and_metrics_server(sandbox: Sandbox) -> None:
    assert sandbox.run("--tag", "v1").returncode == 0
    first = sandbox.calls()
    assert sum("kind create cluster" in call for call in first) == 1
    proc = sandbox.run("--tag", "v1")
    assert proc.returncode == 0, proc.stderr
    second = sandbox.calls()[len(first) :]
    assert not any("kind create cluster" in call for call in second), second
    assert not any(call.startswith("helm upgrade --install metrics-server") for call in second)
    assert not any(call.startswith("helm upgrade --install keda") for call in second), second
    assert not any(call.startswith("kubectl create namespace") for call in second), second
    assert any(call.startswith("helm upgrade --install shopping-system") for call in second)
    assert "metrics-server: already present" in proc.stdout
    assert "KEDA: 2.21.0 already present in namespace keda" in proc.stdout


def test_existing_kind_cluster_without_context_is_reused(sandbox: Sandbox) -> None:
    (sandbox.state / "kind-clusters").write_text("shopsys\n")
    proc = sandbox.run("--tag", "v1")
    assert proc.returncode == 0, proc.stderr
    calls = sandbox.calls()
    assert "kind export kubeconfig --name shopsys" in calls
    assert not any("kind create cluster" in call for call in calls)


def test_a_tag_of_digits_reaches_the_chart_as_a_string(sandbox: Sandbox) -> None:
    proc = sandbox.run("--tag", "1234567", "--no-test")
    assert proc.returncode == 0, proc.stderr
    assert sandbox.image_values()["image"] == {"repository": "shopsys", "tag": "1234567"}


def test_skip_build_without_a_known_tag_is_refused(sandbox: Sandbox) -> None:
    proc = sandbox.run("--skip-build")
    assert proc.returncode != 0
    assert "--skip-build needs --tag TAG" in proc.stderr
    assert not any(call.startswith(("docker", "helm", "kind load")) for call in sandbox.calls())


def test_user_values_come_after_the_image_values(sandbox: Sandbox, tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text("image:\n  repository: mirror.example/shop/shopsys\n")
    proc = sandbox.run("--tag", "t1", "--values", str(mine), "--no-test")
    assert proc.returncode == 0, proc.stderr
    install = sandbox.calls()[index_of(sandbox.calls(), r"^helm upgrade --install shopping-system")]
    values = re.findall(r"--values (\S+)", install)
    assert len(values) == 2
    assert values[1] == str(mine), "a user's values file must be able to override the image"


@pytest.mark.parametrize("context", ["docker-desktop", "minikube", "kind-shopsys"])
def test_local_clusters_get_insecure_kubelet_tls(sandbox: Sandbox, context: str) -> None:
    sandbox.set_context(context)
    proc = sandbox.run("--tag", "t1", "--no-test")
    assert proc.returncode == 0, proc.stderr
    index_of(sandbox.calls(), r"^helm upgrade --install metrics-server .*--kubelet-insecure-tls")


def test_broken_metrics_server_is_not_present(sandbox: Sandbox) -> None:
    (sandbox.state / "apiservice").touch()  # registered, but the metrics API does not answer
    proc = sandbox.run("--tag", "t1")
    assert proc.returncode != 0
    assert "does not answer" in proc.stderr
    assert "--skip-metrics-server" in proc.stderr
    assert not any(
        call.startswith("helm upgrade --install shopping-system") for call in sandbox.calls()
    )


def test_old_keda_is_an_error_and_skip_keda_uses_it(sandbox: Sandbox) -> None:
    (sandbox.state / "keda").write_text("autoscaling v2.14.0 kedacore/keda:2.14.0\n")
    proc = sandbox.run("--tag", "t1")
    assert proc.returncode != 0
    assert "KEDA 2.14.0 runs in namespace autoscaling" in proc.stderr
    assert "2.21.0 or newer" in proc.stderr
    proc = sandbox.run("--tag", "t1", "--skip-keda")
    assert proc.returncode == 0, proc.stderr
    assert not any(call.startswith("helm upgrade --install keda") for call in sandbox.calls())


def test_keda_version_is_read_from_the_image_when_unlabelled(sandbox: Sandbox) -> None:
    (sandbox.state / "keda").write_text("keda main local/keda:2.22.1\n")
    proc = sandbox.run("--tag", "t1")
    assert proc.returncode == 0, proc.stderr
    assert "KEDA: 2.22.1 already present in namespace keda" in proc.stdout


def test_small_minikube_is_told_how_to_grow(sandbox: Sandbox) -> None:
    sandbox.set_context("minikube")
    (sandbox.state / "nodes").write_text("2 2097152Ki\n")
    proc = sandbox.run("--tag", "t1")
    assert proc.returncode != 0
    assert "2000m CPU and 2048 MiB" in proc.stderr
    assert "minikube start --cpus 4 --memory 6g" in proc.stderr
    assert not any(call.startswith(("docker", "helm")) for call in sandbox.calls())


def test_namespace_with_its_own_pod_security_level_is_left_alone(sandbox: Sandbox) -> None:
    (sandbox.state / "ns-shopping-system").write_text("baseline\n")
    proc = sandbox.run("--tag", "t1", "--no-test")
    assert proc.returncode == 0, proc.stderr
    assert not any(call.startswith("kubectl label") for call in sandbox.calls())
    assert 'Pod Security "baseline" enforced' in proc.stdout


def test_build_arguments_reach_docker_build(sandbox: Sandbox) -> None:
    proc = sandbox.run(
        "--tag", "t1", "--build-arg", "PYTHON_IMAGE=local/python:3.11", "--build-network", "host"
    )
    assert proc.returncode == 0, proc.stderr
    index_of(
        sandbox.calls(),
        r"^docker build --build-arg PYTHON_IMAGE=local/python:3\.11 --network host "
        r"--tag shopsys:t1 ",
    )


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


def test_remote_cluster_needs_a_registry_to_build(sandbox: Sandbox) -> None:
    sandbox.set_context("prod-eu")
    proc = sandbox.run()
    assert proc.returncode != 0
    assert "pass --registry REGISTRY" in proc.stderr
    assert "--skip-build --tag TAG" in proc.stderr
    assert not any(call.startswith(("docker", "helm")) for call in sandbox.calls())


def test_remote_cluster_with_registry_pushes_the_image(sandbox: Sandbox) -> None:
    sandbox.set_context("prod-eu")
    proc = sandbox.run("--registry", "registry.example/shop/", "--tag", "1.2.3", "--no-test")
    assert proc.returncode == 0, proc.stderr
    calls = sandbox.calls()
    build = index_of(calls, r"^docker build --tag registry\.example/shop/shopsys:1\.2\.3 ")
    push = index_of(calls, r"^docker push registry\.example/shop/shopsys:1\.2\.3$")
    install = index_of(calls, r"^helm upgrade --install shopping-system")
    assert build < push < install
    assert sandbox.image_values()["image"] == {
        "repository": "registry.example/shop/shopsys",
        "tag": "1.2.3",
    }
    assert not any(call.startswith(("kind ", "minikube ")) for call in calls)
    assert not any("--kubelet-insecure-tls" in call for call in calls), (
        "remote kubelets have real certs"
    )
    assert not any(call.startswith("helm test") for call in calls)


def test_skip_build_with_a_registry_pushes_nothing(sandbox: Sandbox) -> None:
    sandbox.set_context("prod-eu")
    proc = sandbox.run("--registry", "registry.example/shop", "--tag", "1.2.3", "--skip-build")
    assert proc.returncode == 0, proc.stderr
    assert not any(call.startswith("docker") for call in sandbox.calls())
    assert sandbox.image_values()["image"] == {
        "repository": "registry.example/shop/shopsys",
        "tag": "1.2.3",
    }


def test_air_gapped_cluster_deploys_an_image_the_nodes_have(tmp_path: Path) -> None:
    sandbox = make_sandbox(tmp_path, ["kubectl", "helm"])  # no docker on this machine at all
    sandbox.set_context("airgap")
    proc = sandbox.run("--skip-build", "--tag", "2.0.0")
    assert proc.returncode == 0, proc.stderr
    assert "Using shopsys:2.0.0 as present on the nodes" in proc.stdout
    assert sandbox.image_values()["image"] == {"repository": "shopsys", "tag": "2.0.0"}


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
