"""./setup-env.sh, run by `up` as a user would, against the real cluster: what it installed."""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest

from .kit.cluster import ClusterInfo, helm, setup_env, tool_env
from .kit.kubectl import Kubectl
from .kit.versions import REGISTRY

pytestmark = pytest.mark.cluster


def _image_tag(cluster: ClusterInfo) -> str:
    values = json.loads(helm(cluster, "get", "values", cluster.release, "-o", "json").stdout)
    return str(values["image"]["tag"])


def _workloads(kubectl: Kubectl, namespace: str) -> dict[str, str]:
    """Every pod's name -> uid, and each Deployment's and StatefulSet's current template."""
    pods = json.loads(kubectl("-n", namespace, "get", "pods", "-o", "json"))["items"]
    state = {
        p["metadata"]["name"]: p["metadata"]["uid"]
        for p in pods
        if p["metadata"].get("labels", {}).get("app.kubernetes.io/component")
        in {"web", "consumer", "kafka"}
    }
    for kind in ("deployments", "statefulsets"):
        for item in json.loads(kubectl("-n", namespace, "get", kind, "-o", "json"))["items"]:
            state[f"{kind}/{item['metadata']['name']}"] = json.dumps(
                item["spec"]["template"], sort_keys=True
            )
    return state


def test_setup_env_installed_the_release_from_the_registry(
    cluster: ClusterInfo, kubectl: Kubectl
) -> None:
    status = json.loads(helm(cluster, "status", cluster.release, "-o", "json").stdout)
    assert status["info"]["status"] == "deployed"
    deployment = json.loads(
        kubectl(
            "-n", cluster.namespace, "get", "deployment", f"{cluster.release}-web", "-o", "json"
        )
    )
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"{REGISTRY}/shopsys:{_image_tag(cluster)}", "built, pushed and pulled"
    assert deployment["status"].get("readyReplicas", 0) >= 2


def test_helm_test_passes_and_leaves_no_pod(cluster: ClusterInfo, kubectl: Kubectl) -> None:
    proc = helm(cluster, "test", cluster.release, "--timeout", "5m")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Phase:          Succeeded" in proc.stdout
    pods = kubectl("-n", cluster.namespace, "get", "pods", "-o", "name")
    assert f"pod/{cluster.release}-smoke" not in pods, "helm uninstall would leave it behind"


def test_a_second_run_changes_nothing_that_matters(cluster: ClusterInfo, kubectl: Kubectl) -> None:
    before = _workloads(kubectl, cluster.namespace)
    proc = setup_env(cluster, "--tag", _image_tag(cluster))
    assert "KEDA: 2.21.0 already present in namespace keda" in proc.stdout
    assert "metrics-server: already present" in proc.stdout
    after = _workloads(kubectl, cluster.namespace)
    assert after == before, "a re-run must not restart or change the running pods"


def test_a_tag_of_digits_deploys(cluster: ClusterInfo, kubectl: Kubectl) -> None:
    """A short git hash can be all digits: the chart must get it as a string."""
    tag = _image_tag(cluster)
    # Digits of this image's own tag: the node keeps images across runs, and pulls a tag it
    # has only if missing, so a fixed tag could run an older build.
    digits = str(int(hashlib.sha256(tag.encode()).hexdigest(), 16))[:7]
    env = tool_env(cluster)
    for argv in (
        ["docker", "tag", f"{REGISTRY}/shopsys:{tag}", f"{REGISTRY}/shopsys:{digits}"],
        ["docker", "push", f"{REGISTRY}/shopsys:{digits}"],
    ):
        subprocess.run(argv, env=env, check=True, capture_output=True, timeout=300)
    try:
        setup_env(cluster, "--skip-build", "--tag", digits, "--no-test")
        assert _image_tag(cluster) == digits
    finally:
        setup_env(cluster, "--skip-build", "--tag", tag, "--no-test")
    assert _image_tag(cluster) == tag
