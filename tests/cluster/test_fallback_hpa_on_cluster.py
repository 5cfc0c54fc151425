"""A release installed without KEDA (the plain HPA for web) is taken over by KEDA on upgrade."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .kit import manifests
from .kit.cluster import CHART, MONGODB_SECRET, VALUES, ClusterInfo, helm
from .kit.kubectl import Kubectl
from .kit.scaling import (
    eventually,
    get_json,
)

pytestmark = pytest.mark.cluster


def owners(doc: dict[str, Any]) -> list[str]:
    return [f"{o['kind']}/{o['name']}" for o in doc["metadata"].get("ownerReferences", [])]


FALLBACK = "shopsys-fallback"  # release and namespace of the install without KEDA


def test_an_upgrade_from_the_fallback_hpa_to_keda_succeeds(
    cluster: ClusterInfo, kubectl: Kubectl
) -> None:
    """A second release, installed as where KEDA is absent (keda.enabled=false
    renders what "auto" renders without KEDA's CRDs: a plain HPA for web, fixed consumers),
    then `helm upgrade` now that KEDA is there. The tier's KEDA stays installed: removing it
    would disturb every other test, and the chart cannot tell the difference."""
    image = json.loads(
        helm(cluster, "get", "values", cluster.release, "-o", "json").stdout or "{}"
    )["image"]
    fullname = f"{FALLBACK}-shopping-system"
    web = f"{fullname}-web"
    kubectl.apply(manifests.release_namespace(FALLBACK, MONGODB_SECRET))

    def install(*args: str) -> None:
        proc = helm(
            cluster,
            "upgrade",
            "--install",
            FALLBACK,
            str(CHART),
            *args,
            "--wait",
            "--wait-for-jobs",
            "--timeout",
            "6m",
            namespace=FALLBACK,
        )
        assert proc.returncode == 0, f"helm upgrade --install {args}:\n{proc.stderr}"

    try:
        install(
            f"--values={VALUES}",
            f"--set=image.repository={image['repository']}",
            f"--set=image.tag={image['tag']}",
            "--set=kafka.bundled.persistence.enabled=false",
            # The laptop shape, one value away: a second 3-node Kafka would not fit the node.
            "--set=kafka.bundled.replicas=1",
            "--set=kafka.bundled.security=PLAINTEXT",
            "--set=config.mongodbDatabase=shopping_fallback",
            "--set=keda.enabled=false",
        )
        assert (
            json.loads(kubectl("-n", FALLBACK, "get", "scaledobjects", "-o", "json"))["items"] == []
        )
        fallback = get_json(kubectl, "-n", FALLBACK, "get", "hpa", web)
        assert owners(fallback) == [], "the fallback HPA belongs to the release"

        install("--reuse-values", "--set=keda.enabled=auto")  # KEDA's webhook must admit it

        def taken_over() -> bool | None:
            hpa = kubectl("-n", FALLBACK, "get", "hpa", web, "-o", "json", check=False)
            return True if hpa and owners(json.loads(hpa)) == [f"ScaledObject/{web}"] else None

        eventually(taken_over, timeout=120, what="the web HPA owned by KEDA's ScaledObject")
        for name in (web, f"{fullname}-consumer"):
            kubectl(
                "-n",
                FALLBACK,
                "wait",
                "--for=condition=Ready",
                f"scaledobject/{name}",
                "--timeout=120s",
            )
    finally:
        helm(cluster, "uninstall", FALLBACK, "--wait", "--timeout", "3m", namespace=FALLBACK)
        kubectl("delete", "namespace", FALLBACK, "--wait=true", timeout=300)
