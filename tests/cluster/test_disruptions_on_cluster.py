"""Disruptions of the installed release: a node drain and the PodDisruptionBudgets, the Kafka
node leading most partitions killed under load."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.consumer.streaming import PurchaseStream
from tests.support.plots import Mark, Panel

from .kit import plots
from .kit.cluster import ClusterInfo
from .kit.kafka_tools import busiest_leader, kafka_node, partition_leaders
from .kit.kubectl import Kubectl
from .kit.load import LoadPod
from .kit.scaling import (
    Release,
    ScalingRecorder,
    eventually,
    get_json,
    is_ready,
    keda_lag,
    pods,
    stored_ids,
    wait_for_replicas,
    write_results,
)

pytestmark = pytest.mark.cluster

DRAIN_SECONDS = 20  # the budgets refuse at once; the drain retries them until this


def test_a_node_drain_respects_the_disruption_budgets(
    cluster: ClusterInfo, kubectl: Kubectl
) -> None:
    """On the one node nothing can move elsewhere, so a drain shows what the
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


OUTAGE_LOAD_SECONDS = 90
# Bounded rates: the tier's FerretDB (SQLite) answers a user's history by scanning the whole
# collection (1.6 s of CPU per read at 20,000 purchases, where MongoDB uses the chart's
# user_timeline index), so an unbounded purchase load would make the reads measure FerretDB.
PURCHASES_PER_SECOND = 20
READS_PER_SECOND = 4
STREAM = 1_500
CONSUMER_MAXIMUM = 12  # consumer.autoscaling.maxReplicas as shipped


def test_the_kafka_leader_killed_under_load_loses_nothing(
    cluster: ClusterInfo, kubectl: Kubectl, mongodb: Any, run_users: Callable[[str], str]
) -> None:
    """The Kafka node that leads most `purchases` partitions is force-deleted while
    `shopsys load` runs in the cluster. Its partitions fail over to in-sync replicas; until
    the producers learn the new leaders, purchases on those partitions get 503 with
    Retry-After, the others 202; reads keep working. A stream from the host retries each
    purchase with its Idempotency-Key until it is accepted, so its accepted set is exact:
    every one is stored once. The load pod's purchases are not retried; none of its 202s may
    be missing."""
    release = Release.of(cluster)
    ns = release.namespace
    leaders = partition_leaders(kubectl, release, "purchases")
    victim = busiest_leader(leaders)
    kafka_pod = kafka_node(release, victim)
    stream_users, load_users = run_users("outage"), run_users("outload")
    stream = PurchaseStream(
        cluster.web,
        STREAM,
        concurrency=4,
        rate=STREAM / OUTAGE_LOAD_SECONDS,
        user_prefix=stream_users,
        deadline_seconds=400,
    )
    consumers = ScalingRecorder(kubectl, ns, release.consumer, scaled_object=release.consumer)
    with ScalingRecorder(kubectl, ns, release.web) as web_pods, consumers:
        buying = LoadPod(
            kubectl,
            release,
            f"--rate={PURCHASES_PER_SECOND}",
            "--mix=purchase=1",
            f"--user-prefix={load_users}",
            duration=OUTAGE_LOAD_SECONDS,
        ).start()
        reading = LoadPod(
            kubectl,
            release,
            f"--rate={READS_PER_SECOND}",
            "--mix=products=3,history=1",
            duration=OUTAGE_LOAD_SECONDS,
        ).start()
        stream.start()
        stream.wait_for(STREAM // 5, timeout=120)
        old_uid = get_json(kubectl, "-n", ns, "get", "pod", kafka_pod)["metadata"]["uid"]
        killed_at = time.monotonic()
        kubectl("-n", ns, "delete", "pod", kafka_pod, "--grace-period=0", "--force", timeout=180)
        deleted = web_pods.elapsed()

        def kafka_back() -> bool | None:
            pod = get_json(kubectl, "-n", ns, "get", "pod", kafka_pod)
            return True if pod["metadata"]["uid"] != old_uid and is_ready(pod) else None

        eventually(kafka_back, timeout=300, what="Kafka's pod back and caught up")
        back = web_pods.elapsed()
        bought, read = buying.summary(), reading.summary()
        accepted = stream.join()
    after = [(at - killed_at, status) for at, status in stream.answers if at >= killed_at]
    refused = [at for at, status in after if status != "202"]
    gap = _longest_gap_without_202(after)
    assert all(s.ready >= 2 for s in web_pods.samples), web_pods.trace()
    assert set(bought["statuses"]) <= {"202", "503"}, bought["statuses"]
    # A history read is a collection scan on the tier's FerretDB (MongoDB uses the index): on
    # the node's 2 busy CPUs one in a few hundred passes its deadline and is answered 503
    # with Retry-After, as the management API bounds every read. Nothing else is allowed.
    reads = read["statuses"]
    assert set(reads) <= {"200", "404", "503"}, f"reads must keep working: {read}"
    assert reads.get("503", 0) <= sum(reads.values()) // 100, f"reads must keep working: {read}"
    assert stream.errors == [], stream.errors[:5]
    after_recovery = partition_leaders(kubectl, release, "purchases")
    assert min(after_recovery.values()) >= 0, f"a partition without a leader: {after_recovery}"
    # KEDA's scaler lost a broker too: its fallback keeps the consumers, never 0, never max.
    scaled = {sample.replicas for sample in consumers.samples}
    assert scaled, "the consumer Deployment was never sampled"
    assert 1 <= min(scaled) <= max(scaled) < CONSUMER_MAXIMUM, consumers.trace()

    def all_stored() -> list[str] | None:
        ids = stored_ids(mongodb, stream_users)
        return ids if set(ids) >= accepted else None

    stored = eventually(all_stored, timeout=300, what="every accepted purchase stored")
    load_stored = len(stored_ids(mongodb, load_users))

    def lag_settled() -> float | None:
        lag = keda_lag(kubectl, ns, release.consumer)
        return lag if lag == 0 else None

    eventually(lag_settled, timeout=120, what="KEDA's lag back to 0 after the failover")
    report = write_results(
        "kafka-leader-loss",
        "The Kafka node leading most partitions killed under load",
        [
            (
                "node killed (led partitions)",
                f"{kafka_pod} ({list(leaders.values()).count(victim)} of {len(leaders)})",
            ),
            ("node killed → its successor ready (caught up)", f"{back - deleted:.0f} s"),
            (
                "host stream after the kill: answers not 202 / all, last one at",
                f"{len(refused)} / {len(after)}, "
                + (f"{max(refused):.1f} s" if refused else "none"),
            ),
            ("host stream after the kill: longest time without a 202", f"{gap:.1f} s"),
            ("`shopsys load` purchases (in the cluster, not retried)", str(bought["statuses"])),
            ("`shopsys load` reads (catalog, history)", str(read["statuses"])),
            ("host stream (retried with its Idempotency-Key)", stream.summary()),
            ("web pods (s: wanted/ready)", web_pods.trace()),
            (
                "stored: the stream's 202s / the load's 202s",
                f"{len(set(stored) & accepted)} of {len(accepted)} / "
                f"{load_stored} for {bought['statuses'].get('202', 0)}",
            ),
        ],
        "Written by tests/cluster/test_disruptions_on_cluster.py on the tier's one-node "
        f"cluster: {PURCHASES_PER_SECOND} purchases/s and {READS_PER_SECOND} reads/s from "
        f"`shopsys load` Pods, {STREAM:,} purchases from the host, for "
        f"{OUTAGE_LOAD_SECONDS} s.",
    )
    print("\n" + report)
    since_kill = killed_at - web_pods.started
    plots.plot(
        "kafka-leader-loss",
        f"The Kafka node leading {list(leaders.values()).count(victim)} of {len(leaders)}"
        " partitions killed under load",
        [
            Panel("pods", plots.replicas(web_pods, "web") + plots.replicas(consumers, "consumer")),
            Panel("lag (messages)", plots.lag(consumers)),
            Panel("purchases", plots.answers(web_pods.started, stream.answers, "host stream")),
        ],
        [Mark(since_kill, f"{kafka_pod} killed"), Mark(back, "its successor ready")],
    )
    # _id is the purchase id: a purchase stored twice would be an id never answered 202.
    assert set(stored) == accepted, f"{len(set(stored) - accepted)} stored, never accepted"
    assert load_stored >= bought["statuses"]["202"], "a purchase answered 202 is missing"


def _longest_gap_without_202(answers: list[tuple[float, str]]) -> float:
    """The longest time, from the first answer on, between two 202s (or the start and one)."""
    accepted = [0.0] + [at for at, status in answers if status == "202"]
    return max((b - a for a, b in itertools.pairwise(accepted)), default=0.0)
