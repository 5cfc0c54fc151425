"""The cluster tier's fixture: `up()` once for the tier, `down()` after its last test — also
when a test fails, the run is interrupted (Ctrl-C) or pytest is sent SIGTERM.

A cluster that `tests/cluster/up` left running is used as it is and left running."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import pytest
from pymongo import MongoClient

from shopsys.devtools.errors import ProvisionError

from .kit.cluster import ClusterInfo, down, is_up, layout, read_info, up
from .kit.kubectl import Kubectl
from .kit.scaling import forget_purchases

# Last: its upgrade leaves the nodes' pod template changed, so any later upgrade from the
# tier's values (setup-env.sh does one) would roll the three nodes once more.
LAST = "test_kafka_nodes_on_cluster.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name == LAST)  # stable: the rest keep their order


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt("SIGTERM")


@pytest.fixture(scope="package")
def cluster(provision_progress: Callable[[str], None]) -> Iterator[ClusterInfo]:
    running = read_info() if is_up(layout()) else None
    if running is not None:
        provision_progress(
            f"using the cluster tests/cluster/up left running ({running.kubeconfig})"
        )
        yield running
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        try:
            info = up(provision_progress)
        except ProvisionError as error:
            pytest.fail(f"the cluster did not come up: {error}", pytrace=False)
        yield info
    finally:
        try:
            down()
        finally:
            signal.signal(signal.SIGTERM, previous)


@pytest.fixture(scope="package")
def kubectl(cluster: ClusterInfo) -> Kubectl:
    from pathlib import Path

    return Kubectl(Path(cluster.kubectl), Path(cluster.kubeconfig))


@pytest.fixture(scope="package")
def mongodb(cluster: ClusterInfo) -> Iterator[Any]:
    """The release's database, in the cluster's FerretDB."""
    client: MongoClient[dict[str, Any]] = MongoClient(
        cluster.mongodb, serverSelectionTimeoutMS=10_000
    )
    try:
        yield client["shopping"]
    finally:
        client.close()


@pytest.fixture
def run_users(mongodb: Any) -> Iterator[Callable[[str], str]]:
    """``run_users("scale")`` is a user-id prefix of this test's own ("scale-1a2b3c4d"); every
    purchase of those users is removed after the test, also when it fails: the tier's FerretDB
    answers a user's history by scanning the collection, so a failed test's leftovers would
    slow every later test's reads."""
    made: list[str] = []

    def prefix(kind: str) -> str:
        made.append(f"{kind}-{uuid.uuid4().hex[:8]}")
        return made[-1]

    yield prefix
    for user_prefix in made:
        forget_purchases(mongodb, user_prefix)
