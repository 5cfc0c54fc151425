"""Disruptions of the installed release: a node drain and the PodDisruptionBudgets."""

from __future__ import annotations

import pytest

from .cluster import ClusterInfo
from .kubectl import Kubectl
from .scaling import Release, is_ready, pods, wait_for_replicas

pytestmark = pytest.mark.cluster

DRAIN_SECONDS = 45


def test_a_node_drain_respects_the_disruption_budgets(
    cluster: ClusterInfo, kubectl: Kubectl
) -> None:
    """Issue 9, item 7. On the one node nothing can move elsewhere, so a drain shows what the
    budgets allow: one web pod of the two (maxUnavailable 1), and not the only consumer
    (minAvailable 1). Only the release's web and consumer pods are drained: evicting the
    tier's DNS, database and KEDA would measure the tier, not the chart."""
    release = Release.of(cluster)
    ns = release.namespace
    wait_for_replicas(kubectl, ns, release.consumer, 1)
    wait_for_replicas(kubectl, ns, release.web, 2)
    before = {
        name: {p["metadata"]["uid"] for p in pods(kubectl, ns, name)}
        for name in (release.web, release.consumer)
    }
    node = kubectl("get", "nodes", "-o", "name").split()[0]
    selector = (
        f"app.kubernetes.io/instance={cluster.release},"
        "app.kubernetes.io/component in (web,consumer)"
    )
    try:
        drain = kubectl.run_raw(
            "drain",
            node,
            f"--pod-selector={selector}",
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            f"--timeout={DRAIN_SECONDS}s",
            timeout=DRAIN_SECONDS + 60,
        )
        after = {
            name: [p for p in pods(kubectl, ns, name) if p["metadata"]["uid"] in uids]
            for name, uids in before.items()
        }
    finally:
        kubectl("uncordon", node)
    output = drain.stdout + drain.stderr
    assert drain.returncode != 0, f"the drain cannot complete on one node:\n{output}"
    assert "violate the pod's disruption budget" in output, output
    web_left = [p for p in after[release.web] if is_ready(p)]
    assert len(web_left) == 1, "the web budget lets exactly one of the two pods go"
    assert len(after[release.consumer]) == 1, "the only consumer must not be evicted"
    assert is_ready(after[release.consumer][0])
    wait_for_replicas(kubectl, ns, release.web, 2, timeout=180)  # after the uncordon
