"""KEDA scales the consumer of the chart as shipped (timing shortened by
tests/cluster/values.yaml) on real lag, and nothing is lost or duplicated on the way out and
back, through an upgrade at maximum scale and a pod killed mid-drain.

The figures are observations written to test-results/cluster/ (with a plot); the assertions
are the invariants, with generous deadlines.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from tests.integration.consumer.streaming import PurchaseStream
from tests.support.plots import Mark, Panel

from .kit import plots
from .kit.cluster import ClusterInfo, setup_env, tool_env
from .kit.kafka_tools import kafka_tool
from .kit.kubectl import Kubectl
from .kit.scaling import (
    Release,
    ScalingRecorder,
    get_json,
    is_ready,
    pods,
    stored_counter,
    stored_ids,
    wait_for_replicas,
    write_results,
)
from .kit.versions import REGISTRY

pytestmark = pytest.mark.cluster


BACKLOG = 12_000  # a lag of 100 per replica (lagThreshold) asks for 12 from 1,200 on
PARTITIONS = 12  # kafka.topic.partitions as shipped
KAFKA_NODES = 3  # kafka.bundled.replicas as shipped
LAG_THRESHOLD = 100  # consumer.autoscaling.lagThreshold as shipped
POLLING_SECONDS = 5  # consumer.autoscaling.pollingInterval in tests/cluster/values.yaml
LAG_MONITOR_SECONDS = 5  # how often a consumer refreshes its lag metric


PAUSED = "autoscaling.keda.sh/paused-replicas"
WEB_MINIMUM = 2  # web.autoscaling.minReplicas as shipped
BYTES_PER_SECOND = 4096  # the consumers' fetch quota while the backlog is produced


@contextmanager
def fetch_quota(kubectl: Kubectl, release: Release, bytes_per_second: int) -> Iterator[None]:
    """A default client quota on the bundled Kafka: each consumer's fetches slowed to
    `bytes_per_second` in all (a quota holds per node: each node gets its share)."""
    per_node = max(1, bytes_per_second // KAFKA_NODES)

    def configs(*args: str) -> None:
        kafka_tool(
            kubectl,
            release,
            "kafka-configs.sh",
            "--alter",
            "--entity-type",
            "clients",
            "--entity-default",
            *args,
        )

    configs("--add-config", f"consumer_byte_rate={per_node}")
    try:
        yield
    finally:
        configs("--delete-config", "consumer_byte_rate")


@contextmanager
def web_held_at_minimum(kubectl: Kubectl, release: Release) -> Iterator[None]:
    """Web's ScaledObject paused at its minimum (KEDA's paused-replicas annotation).

    The node's 2 CPUs hold the add-ons, Kafka, 12 consumers and 2 web pods by their
    requests, not also the extra web pods that the backlog's stream drives web's CPU to
    (the scheduler would leave the twelfth consumer pending). A cluster with room for both
    needs no pause; the web test scales web on its own."""
    scaled_object = ["-n", release.namespace, "scaledobject", release.web]
    kubectl("annotate", *scaled_object, f"{PAUSED}={WEB_MINIMUM}", "--overwrite")
    try:
        wait_for_replicas(kubectl, release.namespace, release.web, WEB_MINIMUM, timeout=300)
        yield
    finally:
        kubectl("annotate", *scaled_object, f"{PAUSED}-")


def lag_disagreements(recorder: ScalingRecorder, producing: Window) -> tuple[int, list[str]]:
    """Each lag KEDA reported, against what the consumers reported within one polling
    interval (plus their own refresh interval) of it. They must agree within one polling
    interval's worth of traffic: while purchases go in at `producing.rate`, the lag moves
    that much between two polls (plus a lag threshold for the commits in flight). A lag
    beyond partitions x lagThreshold changes no decision (the maximum is the partition
    count), so both views are compared up to that cap. While a rebalance moves partitions
    the consumers' sum misses some (no sample): KEDA's view is compared only when the
    consumers reported both before and after it, so that a backlog drained meanwhile lies
    between the two."""
    cap = PARTITIONS * LAG_THRESHOLD
    window = POLLING_SECONDS + LAG_MONITOR_SECONDS
    compared, wrong = 0, []
    reported = [(s.at, s.consumer_lag) for s in recorder.samples if s.consumer_lag is not None]
    for sample in recorder.samples:
        if sample.keda_lag is None:
            continue
        before = [min(lag, cap) for at, lag in reported if sample.at - window <= at <= sample.at]
        after = [min(lag, cap) for at, lag in reported if sample.at <= at <= sample.at + window]
        if not before or not after:
            continue
        near = before + after
        compared += 1
        traffic = producing.rate * POLLING_SECONDS if sample.at in producing else 0.0
        slack = LAG_THRESHOLD + traffic
        keda_lag = min(sample.keda_lag, cap)
        if not min(near) - slack <= keda_lag <= max(near) + slack:
            wrong.append(f"{sample.at:.0f}s: KEDA {sample.keda_lag:.0f}, consumers {near}")
    return compared, wrong


@dataclass(frozen=True)
class Window:
    """When (seconds on the recorder's clock) and how fast purchases went in."""

    start: float
    end: float
    rate: float

    def __contains__(self, at: float) -> bool:
        return self.start <= at <= self.end


def retag(cluster: ClusterInfo, tag: str, new_tag: str) -> None:
    """The running image under a new tag in the registry: an upgrade that changes the pods."""
    for argv in (
        ["docker", "tag", f"{REGISTRY}/shopsys:{tag}", f"{REGISTRY}/shopsys:{new_tag}"],
        ["docker", "push", f"{REGISTRY}/shopsys:{new_tag}"],
    ):
        subprocess.run(argv, env=tool_env(cluster), check=True, capture_output=True, timeout=300)


def image_tag(kubectl: Kubectl, namespace: str, deployment: str) -> str:
    spec = get_json(kubectl, "-n", namespace, "get", "deployment", deployment)["spec"]
    return str(spec["template"]["spec"]["containers"][0]["image"]).rpartition(":")[2]


def test_consumer_scales_on_lag_upgrades_at_its_maximum_and_loses_nothing(
    cluster: ClusterInfo, kubectl: Kubectl, mongodb: Any, run_users: Callable[[str], str]
) -> None:
    """On one backlog: KEDA scales the consumer out to the partition
    count, `helm upgrade` with a new image tag completes there, a consumer pod force-killed
    while the backlog drains loses nothing, and KEDA brings the consumer back to 1."""
    release = Release.of(cluster)
    ns, consumer = release.namespace, release.consumer
    wait_for_replicas(kubectl, ns, consumer, 1, timeout=600)
    prefix = run_users("scale")
    # SASL_SSL to three nodes, each purchase on two before its 202, on the node's 2 CPUs.
    stream = PurchaseStream(
        cluster.web, BACKLOG, concurrency=64, user_prefix=prefix, deadline_seconds=300
    )
    old_tag = image_tag(kubectl, ns, consumer)
    new_tag = f"upgrade-{uuid.uuid4().hex[:6]}"
    retag(cluster, old_tag, new_tag)
    with (
        web_held_at_minimum(kubectl, release),
        ScalingRecorder(kubectl, ns, consumer, scaled_object=consumer) as recorder,
        stored_counter(mongodb, prefix) as counts,
    ):
        # On 2 shared CPUs one consumer drains faster than the web pods accept purchases, so
        # no backlog would build. A broker quota on fetches makes the consumers the slow
        # side, as a slow downstream would, while the purchases go in through the web
        # Service; lifting it lets the scaled-out consumers drain the backlog.
        with fetch_quota(kubectl, release, BYTES_PER_SECOND):
            stream.start()
            produce_started = recorder.elapsed()
            out = recorder.until(
                lambda s: s.replicas > 1,
                timeout=180,
                what="KEDA scaling the consumer above 1 replica",
            )
            at_max = recorder.until(
                lambda s: s.replicas == s.ready == PARTITIONS,
                timeout=300,
                what=f"the consumer at its maximum of {PARTITIONS} ready replicas",
            )
            accepted = stream.join()
            produced = recorder.elapsed()
            producing = Window(
                produce_started, produced, len(accepted) / max(produced - produce_started, 1.0)
            )
            print(f"\n[backlog] {stream.summary()}")
            upgrade_started = recorder.elapsed()
            setup_env(cluster, "--skip-build", "--tag", new_tag, "--no-test")
            upgraded = recorder.elapsed()
            assert image_tag(kubectl, ns, consumer) == new_tag
        victim = next(p for p in pods(kubectl, ns, consumer) if is_ready(p))["metadata"]["name"]
        kubectl("-n", ns, "delete", "pod", victim, "--grace-period=0", "--force")
        killed = recorder.elapsed()
        drained = recorder.until(
            lambda s: s.keda_lag == 0 and s.consumer_lag == 0,
            after=killed,
            timeout=600,
            what="the backlog drained",
        )
        back = recorder.until(
            lambda s: s.replicas == 1 and s.ready == 1,
            after=drained.at,
            timeout=900,
            what="the consumer back at 1 replica",
        )
    stored = stored_ids(mongodb, prefix)
    lost = accepted - set(stored)
    # _id is the purchase id, so a purchase stored twice shows as an id never answered 202
    # (a retried request published anew).
    extra = set(stored) - accepted
    peak = recorder.peak()
    during_upgrade = [s for s in recorder.samples if upgrade_started <= s.at <= upgraded]
    peak_lag = max((s.keda_lag or 0.0) for s in recorder.samples)
    compared, wrong = lag_disagreements(recorder, producing)
    report = write_results(
        "autoscaling-consumer",
        "Consumer autoscaling on Kafka lag",
        [
            ("purchases put on the topic through the web Service", f"{len(accepted):,}"),
            ("peak lag (KEDA's view)", f"{peak_lag:,.0f}"),
            ("time to first scale-out (from the first purchase)", f"{out.at:.0f} s"),
            ("time to 12 ready replicas (the partition count)", f"{at_max.at:.0f} s"),
            ("peak replicas", str(peak)),
            (
                "`helm upgrade` to a new image tag at 12 replicas",
                f"{upgraded - upgrade_started:.0f} s",
            ),
            (
                "replicas during the upgrade (min-max wanted / min ready)",
                f"{min(s.replicas for s in during_upgrade)}-"
                f"{max(s.replicas for s in during_upgrade)} / "
                f"{min(s.ready for s in during_upgrade)}",
            ),
            ("drain time (from a force-killed pod to lag 0)", f"{drained.at - killed:.0f} s"),
            ("time back to 1 replica (after lag 0)", f"{back.at - drained.at:.0f} s"),
            ("lost / stored but never answered 202", f"{len(lost)} / {len(extra)}"),
            (
                "KEDA's lag vs the consumers' (within one polling interval)",
                f"{compared - len(wrong)} of {compared} samples agree",
            ),
            ("replicas over time (s: wanted/ready)", recorder.trace()),
        ],
        "Written by tests/cluster/test_consumer_autoscaling_on_cluster.py on the tier's one-node "
        "cluster (2 CPUs shared by everything); chart defaults with only timing shortened "
        "(tests/cluster/values.yaml). Web is held at its 2 replicas meanwhile (KEDA's "
        "paused-replicas), so that the node's CPU requests fit the 12 consumers.",
    )
    print("\n" + report)
    plots.plot(
        "autoscaling-consumer",
        f"Consumer autoscaling on Kafka lag: {len(accepted):,} purchases, 1 to {PARTITIONS}"
        " pods and back",
        [
            Panel("consumer pods", plots.replicas(recorder, "consumer")),
            Panel("lag (messages)", plots.lag(recorder)),
            Panel(
                "purchases",
                plots.answers(recorder.started, stream.answers, "host stream")
                + plots.stored(recorder.started, counts, "host stream"),
            ),
        ],
        [
            Mark(out.at, "first scale-out"),
            Mark(at_max.at, f"{PARTITIONS} ready"),
            Mark(upgrade_started, "helm upgrade"),
            Mark(killed, "a pod force-killed"),
            Mark(drained.at, "lag 0"),
            Mark(back.at, "back at 1"),
        ],
    )
    assert not lost, f"{len(lost)} accepted purchases are not stored"
    assert not extra, f"{len(extra)} stored purchases were never answered 202"
    assert peak <= PARTITIONS, recorder.trace()
    assert all(s.ready >= PARTITIONS for s in during_upgrade), recorder.trace()  # maxUnavailable 0
    assert compared >= 5, f"too few samples to compare the lag: {recorder.errors[-5:]}"
    assert not wrong, wrong[:10]
