"""The bundled Kafka's nodes replaced and missing under load: a `helm upgrade` that rolls the
nodes one at a time, then one that rotates the roles' passwords, and one node away for a
minute. Every purchase answered 202 is stored once."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.consumer.streaming import PurchaseStream
from tests.support.plots import Line, Mark, Panel

from .kit import plots
from .kit.cluster import CHART, ClusterInfo, helm
from .kit.kafka_tools import client_attempts, role_credentials
from .kit.kubectl import Kubectl
from .kit.scaling import (
    PeriodicSampler,
    Release,
    eventually,
    get_json,
    is_ready,
    stored_ids,
    write_results,
)

pytestmark = pytest.mark.cluster

NODES = 3  # kafka.bundled.replicas as shipped
RATE = 25.0  # purchases per second from the host, each retried with its Idempotency-Key
AWAY_SECONDS = 60
ROTATED = ("web", "consumer")  # the roles whose passwords the rotation changes


def _statefulset(release: Release) -> str:
    return f"{release.fullname}-kafka"


def _ready_nodes(kubectl: Kubectl, release: Release) -> int:
    selector = "app.kubernetes.io/component=kafka"
    items = get_json(kubectl, "-n", release.namespace, "get", "pods", "-l", selector)["items"]
    return sum(1 for pod in items if is_ready(pod))


def _ready_nodes_sampler(kubectl: Kubectl, release: Release) -> PeriodicSampler[tuple[float, int]]:
    """(monotonic time, ready Kafka nodes), every 2 s while the block runs."""
    return PeriodicSampler(
        lambda: (time.monotonic(), _ready_nodes(kubectl, release)), every=2.0, name="ready-nodes"
    )


def _counts(ready: PeriodicSampler[tuple[float, int]]) -> list[int]:
    return [count for _, count in ready.samples]


def _report(
    name: str,
    title: str,
    rows: list[tuple[str, str]],
    stream: PurchaseStream,
    accepted: set[str],
    stored: list[str],
    ready: PeriodicSampler[tuple[float, int]],
    marks: dict[float, str],
) -> None:
    """The run's table (with the host stream's figures) and its timeline; ``marks`` are
    monotonic times."""
    rows = [
        *rows,
        ("host stream (retried with its Idempotency-Key)", stream.summary()),
        ("stored / accepted", f"{len(set(stored) & accepted)} / {len(accepted)}"),
    ]
    notes = (
        "Written by tests/cluster/test_kafka_nodes_on_cluster.py on the tier's one-node cluster, "
        f"{RATE:.0f} purchases/s offered from the host."
    )
    print("\n" + write_results(name, title, rows, notes))
    started = stream.started_at
    nodes = [(at - started, float(count)) for at, count in ready.samples]
    plots.plot(
        name,
        title,
        [
            Panel("Kafka nodes ready", [Line("ready", nodes, step=True)]),
            Panel("purchases", plots.answers(started, stream.answers, "host stream")),
        ],
        [Mark(at - started, label) for at, label in marks.items()],
    )


def _answers(stream: PurchaseStream, start: float, end: float) -> dict[str, int]:
    """The stream's answers between ``start`` and ``end`` (monotonic), counted by status."""
    return dict(Counter(status for at, status in stream.answers if start <= at < end))


def _accepted_per_second(stream: PurchaseStream, start: float, end: float) -> float:
    return _answers(stream, start, end)["202"] / max(end - start, 1e-9)


def _all_stored(mongodb: Any, users: str, accepted: set[str]) -> list[str]:
    def check() -> list[str] | None:
        ids = stored_ids(mongodb, users)
        return ids if set(ids) >= accepted else None

    return eventually(check, timeout=300, what="every accepted purchase stored")


def _upgrade(cluster: ClusterInfo, *args: str) -> None:
    proc = helm(
        cluster,
        "upgrade",
        cluster.release,
        str(CHART),
        "--reuse-values",
        *args,
        "--wait",
        "--wait-for-jobs",
        "--timeout",
        "12m",
    )
    assert proc.returncode == 0, f"helm upgrade {args}:\n{proc.stderr}"


def _streaming(
    cluster: ClusterInfo, users: str, *, purchases: int, deadline_seconds: float
) -> PurchaseStream:
    """Purchases at RATE from the host, under way (the first hundred accepted)."""
    stream = PurchaseStream(
        cluster.web,
        purchases,
        concurrency=8,
        rate=RATE,
        user_prefix=users,
        deadline_seconds=deadline_seconds,
    )
    stream.start()
    stream.wait_for(100, timeout=120)
    return stream


def test_upgrades_that_roll_the_nodes_and_rotate_the_passwords_lose_nothing(
    cluster: ClusterInfo, kubectl: Kubectl, mongodb: Any, run_users: Callable[[str], str]
) -> None:
    """While purchases go in: a `helm upgrade` that changes the nodes' pod template, which
    replaces them one at a time, each waiting for the previous to be back in sync (never
    fewer than two ready); then the rotation chart/README.md describes: the web and consumer
    passwords removed from the users Secret, `helm upgrade` (its init Job sets the new ones)
    and the two Deployments restarted. The old password is refused afterwards."""
    release = Release.of(cluster)
    ns, users_secret = release.namespace, f"{release.fullname}-kafka-users"
    users = run_users("roll")
    old = {role: role_credentials(kubectl, release, role) for role in ROTATED}
    # More than the two steps take; stopped once they are done.
    stream = _streaming(cluster, users, purchases=int(RATE * 900), deadline_seconds=1200)
    rolled_at = time.monotonic()
    with _ready_nodes_sampler(kubectl, release) as ready:
        _upgrade(cluster, f"--set-string=kafka.bundled.podAnnotations.rolled-by-test={users}")
    rotating_at = time.monotonic()
    status = get_json(kubectl, "-n", ns, "get", "statefulset", _statefulset(release))["status"]
    assert status["currentRevision"] == status["updateRevision"], status
    for role in ROTATED:
        remove = [{"op": "remove", "path": f"/data/{role}-password"}]
        kubectl("-n", ns, "patch", "secret", users_secret, "--type=json", "-p", json.dumps(remove))
    _upgrade(cluster)
    for deployment in (release.web, release.consumer):
        kubectl("-n", ns, "rollout", "restart", "deployment", deployment)
    for deployment in (release.web, release.consumer):
        kubectl("-n", ns, "rollout", "status", "deployment", deployment, timeout=600)
    rotated_at = time.monotonic()
    time.sleep(10)  # purchases through the restarted pods
    stream.stop()
    accepted = stream.join()
    new = {role: role_credentials(kubectl, release, role) for role in ROTATED}
    attempts: list[tuple[str, str, list[Any], list[str]]] = [
        ("web's old password", "connect", ["SASL_SSL", *old["web"]], []),
        (
            "web's new password writes purchases",
            "produce",
            ["SASL_SSL", *new["web"]],
            ["purchases"],
        ),
    ]
    results = client_attempts(kubectl, release, attempts)
    stored = _all_stored(mongodb, users, accepted)
    _report(
        "kafka-rolling-update",
        "A rolling update of the Kafka nodes, then a password rotation, under load",
        [
            ("`helm upgrade` rolling 3 nodes", f"{rotating_at - rolled_at:.0f} s"),
            ("ready nodes during it (min)", str(min(_counts(ready), default=0))),
            ("host stream answers during it", str(_answers(stream, rolled_at, rotating_at))),
            (
                "202s per second during it (offered)",
                f"{_accepted_per_second(stream, rolled_at, rotating_at):.1f} ({RATE:.0f})",
            ),
            (
                "rotation: `helm upgrade`, web and consumer restarted",
                f"{rotated_at - rotating_at:.0f} s",
            ),
            (
                "host stream answers during the rotation",
                str(_answers(stream, rotating_at, rotated_at)),
            ),
            ("old / new web password", f"{results[attempts[0][0]]} / {results[attempts[1][0]]}"),
        ],
        stream,
        accepted,
        stored,
        ready,
        {
            rolled_at: "helm upgrade: the roll",
            rotating_at: "passwords removed, helm upgrade",
            rotated_at: "web and consumer restarted",
        },
    )
    assert new["web"][1] != old["web"][1]
    assert new["consumer"][1] != old["consumer"][1]
    assert len(ready.samples) >= 10, ready.samples  # the roll was watched
    assert min(_counts(ready)) >= NODES - 1, ready.samples
    assert set(stream.statuses) <= {"202", "503"}, stream.statuses
    assert "_AUTHENTICATION" in results[attempts[0][0]], results
    assert results[attempts[1][0]] == "ok", results
    assert len(stored) == len(set(stored))
    assert set(stored) == accepted


def test_one_node_away_for_a_minute_keeps_purchases_going(
    cluster: ClusterInfo, kubectl: Kubectl, mongodb: Any, run_users: Callable[[str], str]
) -> None:
    """The StatefulSet scaled to two nodes for a minute, then back: with min.insync.replicas
    2 every partition still has two in sync, so purchases keep being accepted; the rate is
    reported against the rate with all three."""
    release = Release.of(cluster)
    users = run_users("away")
    stream = _streaming(
        cluster, users, purchases=int(RATE * 2 * AWAY_SECONDS), deadline_seconds=600
    )
    with _ready_nodes_sampler(kubectl, release) as ready:
        before = time.monotonic()
        time.sleep(AWAY_SECONDS / 3)
        scale = ["-n", release.namespace, "scale", "statefulset", _statefulset(release)]
        away = time.monotonic()
        kubectl(*scale, f"--replicas={NODES - 1}")
        try:
            time.sleep(AWAY_SECONDS)
        finally:
            back = time.monotonic()
            kubectl(*scale, f"--replicas={NODES}")
        eventually(
            lambda: True if _ready_nodes(kubectl, release) == NODES else None,
            timeout=600,
            what="the third node back in sync",
        )
        rejoined = time.monotonic()
    stream.stop()
    accepted = stream.join()
    all_rate = _accepted_per_second(stream, before, away)
    away_rate = _accepted_per_second(stream, away, back)
    stored = _all_stored(mongodb, users, accepted)
    _report(
        "kafka-node-away",
        "One Kafka node away for a minute under load",
        [
            ("202s per second, all nodes / one away", f"{all_rate:.1f} / {away_rate:.1f}"),
            ("host stream answers while one was away", str(_answers(stream, away, back))),
            ("the node back → in sync (ready)", f"{rejoined - back:.0f} s"),
        ],
        stream,
        accepted,
        stored,
        ready,
        {away: "scaled to 2 nodes", back: "scaled back to 3", rejoined: "3 ready"},
    )
    assert away_rate >= 0.8 * all_rate, (away_rate, all_rate, _answers(stream, away, back))
    assert set(stream.statuses) <= {"202", "503"}, stream.statuses
    assert len(stored) == len(set(stored))
    assert set(stored) == accepted
