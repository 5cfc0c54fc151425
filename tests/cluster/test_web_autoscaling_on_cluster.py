"""The HPA that KEDA made scales web on CPU under in-cluster load, and back, with no bare 5xx.

The figures are observations written to test-results/cluster/ (with a plot).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.support.plots import Mark, Panel

from .kit import plots
from .kit.cluster import ClusterInfo
from .kit.kubectl import Kubectl
from .kit.load import LoadPod
from .kit.scaling import (
    Release,
    ScalingRecorder,
    wait_for_replicas,
    write_results,
)

pytestmark = pytest.mark.cluster


HEAVY_SECONDS = 60  # the in-cluster load that drives web CPU above its target
LIGHT_SECONDS = 300  # a trickle through the scale-down (stopped once web is back at 2)


def test_web_scales_on_cpu_under_in_cluster_load_answering_only_503s(
    cluster: ClusterInfo, kubectl: Kubectl, run_users: Callable[[str], str]
) -> None:
    """`shopsys load` in a Pod drives web CPU above the HPA's target; KEDA's
    HPA adds web pods and, once the load stops, brings web back to 2. A trickle of requests
    runs through both, and no request gets a 5xx but a 503 with Retry-After."""
    release = Release.of(cluster)
    ns, web = release.namespace, release.web
    wait_for_replicas(kubectl, ns, web, 2, timeout=600)
    # Catalog reads (web caches the catalog) and purchases; no history reads: against the
    # tier's FerretDB (SQLite) they scan the collection and saturate it at this rate, and it
    # is web's CPU this test is about.
    prefix = run_users("webload")
    users = f"--user-prefix={prefix}"
    mix = "--mix=purchase=1,products=3"
    with ScalingRecorder(kubectl, ns, web) as recorder:
        light = LoadPod(kubectl, release, "--rate=10", mix, users, duration=LIGHT_SECONDS)
        light.start()
        light_started = recorder.elapsed()
        heavy = LoadPod(kubectl, release, "--concurrency=64", mix, users, duration=HEAVY_SECONDS)
        heavy.start()
        out = recorder.until(
            lambda s: s.replicas > 2,
            timeout=HEAVY_SECONDS + 60,
            what="the HPA adding web pods",
        )
        loaded = heavy.summary()
        stopped = recorder.elapsed()
        back = recorder.until(
            lambda s: s.replicas == s.ready == 2,
            after=stopped,
            timeout=600,
            what="web back at 2 replicas",
        )
        light.stop()  # it ran through the scale-down; the rest would be waiting
        trickle = light.summary()
    peak = recorder.peak()
    report = write_results(
        "autoscaling-web",
        "Web autoscaling on CPU",
        [
            (
                "in-cluster load (64 clients, 25% purchases, 75% catalog)",
                f"{loaded['requests_per_s']} req/s",
            ),
            ("time to first scale-out", f"{out.at:.0f} s"),
            ("peak replicas (maximum 10)", str(peak)),
            ("time back to 2 replicas (after the load)", f"{back.at - stopped:.0f} s"),
            ("answers under load", json.dumps(loaded["statuses"])),
            ("answers of the trickle (10 req/s throughout)", json.dumps(trickle["statuses"])),
            ("replicas over time (s: wanted/ready)", recorder.trace()),
        ],
        "Written by tests/cluster/test_web_autoscaling_on_cluster.py; `shopsys load` runs in Pods "
        "of the release's image in namespace shopsys-load.",
    )
    print("\n" + report)
    plots.plot(
        "autoscaling-web",
        f"Web autoscaling on CPU: {loaded['requests_per_s']} requests/s from 64 in-cluster clients",
        [Panel("web pods", plots.replicas(recorder, "web"))],
        [
            Mark(light_started, "load starts"),
            Mark(out.at, "first scale-out"),
            Mark(stopped, "load ends"),
            Mark(back.at, "back at 2"),
        ],
    )
    for summary in (loaded, trickle):
        unexpected = {
            status: count
            for status, count in summary["statuses"].items()
            if not (status.startswith("2") or status in ("404", "503"))
        }
        assert not unexpected, f"answers other than 2xx, 404 and 503 with Retry-After: {summary}"
    assert 2 < peak <= 10, recorder.trace()
    assert back.at < light_started + LIGHT_SECONDS, "the trickle must run through the scale-down"
