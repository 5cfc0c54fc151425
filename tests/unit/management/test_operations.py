"""The operations page without servers: the snapshot, its parts, its routes and Kafka reads,
with fakes that subclass the real interfaces.

Past 300 lines: every part of the snapshot with the fakes it shares.
"""

from __future__ import annotations

import re
import threading
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import mongomock
import pytest
from confluent_kafka import KafkaError, KafkaException, Node, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    ConsumerGroupDescription,
    MemberAssignment,
    MemberDescription,
)
from starlette.testclient import TestClient

from shopsys.consumer.lag import PartitionOffsets, lag_of
from shopsys.consumer.metrics import ConsumerMetrics
from shopsys.management.app import create_app
from shopsys.management.operations.kafka_reads import ReadError, describe_group, read_offsets
from shopsys.management.operations.model import (
    GroupView,
    Offsets,
    OffsetsView,
    PartitionState,
    Unavailable,
)
from shopsys.management.operations.probe import KafkaProbe
from shopsys.management.operations.snapshot import READ_IN_PROGRESS, Operations, latency
from shopsys.management.services import ConsumerServices
from tests.support.kafka_admin import FakeFuture
from tests.support.management_app import GROUP, NAMES, FakeProbe, FakeReplicas, consumer_services
from tests.support.offsets import FakeOffsets


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _operations(probe: KafkaProbe, clock: Clock, metrics: ConsumerMetrics) -> Operations:
    return Operations(
        names=NAMES,
        probe=probe,
        replicas=FakeReplicas(),
        write_latency=metrics.write_latency,
        kafka_timeout=4.0,
        cache_seconds=1.0,
        replica="consumer-0",
        clock=clock,
        wall_clock=lambda: 1_700_000_000.0 + clock.now,
    )


def test_snapshot_adds_lag_and_totals_and_is_shared_while_fresh() -> None:
    probe, clock, metrics = FakeProbe(), Clock(), ConsumerMetrics()
    operations = _operations(probe, clock, metrics)
    body = operations.snapshot().to_json()
    offsets: Any = body["offsets"]
    assert [p["lag"] for p in offsets["partitions"]] == [3, 0]
    assert (offsets["lag_total"], offsets["produced_total"], offsets["processed_total"]) == (
        3,
        15,
        12,
    )
    assert offsets["dead_lettered_total"] == 2
    assert body["group_members"] == {"available": True, **GROUP.model_dump()}
    assert body["replicas"] == {"available": False, "reason": "not running in Kubernetes"}
    assert body["replica"] == "consumer-0"
    assert probe.asked == [("offsets", 4.0), ("group", 4.0)]

    clock.now += 0.5
    assert operations.snapshot().to_json() == body  # many pages, one read
    assert len(probe.asked) == 2
    clock.now += 0.6
    assert operations.snapshot().time > body["time"]  # type: ignore[operator]
    assert len(probe.asked) == 4
    operations.close()
    assert probe.closed


class SlowProbe(FakeProbe):
    """Its offsets read waits for ``release``; ``reading`` says one has begun."""

    def __init__(self) -> None:
        super().__init__()
        self.reading, self.release = threading.Event(), threading.Event()

    def offsets(self, *, timeout: float) -> Offsets:
        self.reading.set()
        assert self.release.wait(10)
        return super().offsets(timeout=timeout)


def test_requests_during_a_read_do_not_queue_behind_it() -> None:
    """Each waiting request would hold a threadpool worker /readyz and /metrics need."""
    probe, clock, metrics = SlowProbe(), Clock(), ConsumerMetrics()
    operations = _operations(probe, clock, metrics)
    with ThreadPoolExecutor(2) as pool:
        try:
            first = pool.submit(operations.snapshot)
            assert probe.reading.wait(5)
            meanwhile = pool.submit(operations.snapshot).result(timeout=2).to_json()
            busy = {"available": False, "reason": READ_IN_PROGRESS}
            assert meanwhile["offsets"] == meanwhile["group_members"] == busy
            assert meanwhile["replicas"] == busy
            assert meanwhile["write_latency"]["available"] is True  # type: ignore[index]
        finally:
            probe.release.set()
        taken = first.result(timeout=5)
        assert isinstance(taken.offsets, OffsetsView)

        clock.now += 5  # stale: the next request reads again, and the one after it waits not
        probe.reading.clear()
        probe.release.clear()
        try:
            second = pool.submit(operations.snapshot)
            assert probe.reading.wait(5)
            assert pool.submit(operations.snapshot).result(timeout=2) is taken  # the last one
        finally:
            probe.release.set()
        assert second.result(timeout=5).time > taken.time


def test_unavailable_parts_say_why_and_the_rest_still_shows() -> None:
    probe = FakeProbe(
        offsets=Unavailable(reason="no answer from Kafka in time"),
        group=Unavailable(reason="the probe process died (SIGABRT)"),
    )
    metrics = ConsumerMetrics()
    metrics.write_latency.observe(0.02)
    body = _operations(probe, Clock(), metrics).snapshot().to_json()
    assert body["offsets"] == {"available": False, "reason": "no answer from Kafka in time"}
    assert body["group_members"] == {
        "available": False,
        "reason": "the probe process died (SIGABRT)",
    }
    assert body["write_latency"]["count"] == 1  # type: ignore[index]


def test_write_latency_is_this_replicas_cumulative_histogram() -> None:
    metrics = ConsumerMetrics()
    for seconds in (0.004, 0.02, 0.02, 7.0):
        metrics.write_latency.observe(seconds)
    view = latency(metrics.write_latency)
    assert view.scope == "this replica"
    assert view.count == 4
    assert view.sum_seconds == pytest.approx(7.044)
    cumulative = dict(view.buckets)
    assert (cumulative[0.005], cumulative[0.025], cumulative[5.0]) == (1, 3, 3)
    assert all(bound != float("inf") for bound, _ in view.buckets)  # JSON has no infinity


@pytest.fixture
def client() -> Iterator[tuple[TestClient, FakeProbe]]:
    database: Any = mongomock.MongoClient()["shopping"]
    probe = FakeProbe()

    def make_services(metrics: ConsumerMetrics) -> ConsumerServices:
        return consumer_services(
            metrics,
            database,
            admin_token="s3cret",  # noqa: S106 - reads stay open with a token set
            operations=_operations(probe, Clock(), metrics),
        )

    with TestClient(create_app(make_services)) as test_client:
        yield test_client, probe
    assert probe.closed, "the app's shutdown closes the probe"


def test_page_loads_only_its_own_files_and_they_are_served(
    client: tuple[TestClient, FakeProbe],
) -> None:
    http, _ = client
    page = http.get("/operations")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), "no inline scripts"
    assert " style=" not in page.text, "no inline styles"
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    assert "/static/vendor/uplot/uPlot.iife.min.js" in assets
    for asset in assets:
        served = http.get(asset)
        assert served.status_code == 200, asset
        assert len(served.content) > 100, asset
    licence = http.get("/static/vendor/uplot/LICENSE").text
    assert "MIT" in licence
    assert "Leon Sorokin" in licence


def test_snapshot_route_is_open_and_never_cached(client: tuple[TestClient, FakeProbe]) -> None:
    http, _ = client
    response = http.get("/api/v1/operations")  # no token: reads are open
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.json()["offsets"]["lag_total"] == 3


def _three_partitions_and_a_dlq() -> FakeOffsets:
    """A topic of three partitions (one never committed) and a DLQ of two."""
    return FakeOffsets(
        committed={("t", 0): 8, ("t", 1): 4},
        high={("t", 0): 10, ("t", 1): 4, ("t", 2): 9, ("t.dlq", 0): 2, ("t.dlq", 1): 1},
        low={("t", 2): 6},
    )


def test_offsets_cover_every_partition_and_start_uncommitted_ones_at_the_low_watermark() -> None:
    view = read_offsets(_three_partitions_and_a_dlq(), "t", "t.dlq")
    assert [(p.partition, p.high, p.position, p.lag) for p in view.partitions] == [
        (0, 10, 8, 2),
        (1, 4, 4, 0),
        (2, 9, 6, 3),  # never committed: lag counts from the low watermark, as KEDA does
    ]
    assert view.dead_lettered_total == 3
    assert view.produced_total - view.processed_total == 5


def test_the_page_and_the_lag_gauge_share_one_lag_rule() -> None:
    for high, position in ((10, 7), (5, 5), (3, 4)):  # a commit may pass a watermark read
        expected = lag_of(high, position)
        assert PartitionState(partition=0, high=high, position=position).lag == expected
        assert PartitionOffsets(high=high, position=position).lag == expected
    assert lag_of(3, 4) == 0


def test_offsets_fail_as_a_whole_rather_than_show_a_partial_topic() -> None:
    offsets = _three_partitions_and_a_dlq()
    offsets.lost.add(("t", 1))
    with pytest.raises(ReadError, match="1 partitions"):
        read_offsets(offsets, "t", "t.dlq")
    with pytest.raises(ReadError, match="topic other not found"):
        read_offsets(_three_partitions_and_a_dlq(), "other", "t.dlq")


class FakeAdmin:
    """Stands in for the AdminClient, which cannot be subclassed without a broker."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.asked: list[tuple[list[str], float]] = []

    def describe_consumer_groups(self, groups: list[str], *, request_timeout: float) -> Any:
        self.asked.append((groups, request_timeout))
        return {groups[0]: FakeFuture(self.answer)}


def _member(member_id: str, *partitions: tuple[str, int]) -> MemberDescription:
    assigned = MemberAssignment([TopicPartition(topic, part) for topic, part in partitions])
    return MemberDescription(member_id, "shopsys", "/10.0.0.9", assigned)


def test_group_members_and_their_partitions_of_our_topic() -> None:
    described = ConsumerGroupDescription(
        "g",
        False,
        [_member("b", ("t", 1), ("other", 0), ("t", 0)), _member("a", ("t", 2)), _member("c")],
        "cooperative-sticky",
        "STABLE",
        Node(1, "localhost", 9092),
    )
    admin = FakeAdmin(described)
    view = describe_group(admin, "g", "t", timeout=3.0)
    assert admin.asked == [(["g"], 3.0)]
    assert view.state == "STABLE"
    assert [(m.member_id, m.partitions) for m in view.members] == [
        ("b", [0, 1]),
        ("a", [2]),
        ("c", []),
    ]


def test_a_missing_group_is_empty_and_other_errors_say_why() -> None:
    missing = KafkaException(KafkaError(KafkaError.GROUP_ID_NOT_FOUND))
    assert describe_group(FakeAdmin(missing), "g", "t", timeout=1) == GroupView(
        state="NOT_FOUND", members=[]
    )
    timed_out = KafkaException(KafkaError(KafkaError._TIMED_OUT))
    with pytest.raises(ReadError, match="describing group g failed"):
        describe_group(FakeAdmin(timed_out), "g", "t", timeout=1)


def test_every_static_file_is_in_the_package_data() -> None:
    """setuptools' package-data globs do not descend into folders: each folder is listed."""
    root = Path(__file__).resolve().parents[3]
    package = root / "src" / "shopsys"
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["shopsys"]
    packaged = {path for pattern in patterns for path in package.glob(pattern)}
    static = {
        path
        for folder in ("management/operations/static", "web/static")
        for path in (package / folder).rglob("*")
        if path.is_file()
    }
    assert static - packaged == set()
    assert package / "management/operations/static/vendor/uplot/uPlot.iife.min.js" in packaged
