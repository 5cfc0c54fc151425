"""The Kafka command-line tools, run in a node of the bundled Kafka as its broker user (a
super user): what an operator does with `kubectl exec`."""

from __future__ import annotations

import re
from collections import Counter

from .kubectl import Kubectl
from .scaling import Release

# start.sh writes the node's client settings (the broker user, the CA) for its probe and tools.
TOOL = (
    'exec "/opt/kafka/bin/$0" --bootstrap-server "$HOSTNAME.$HEADLESS_DOMAIN:9092" '
    '--command-config /tmp/shopsys-kafka/client.properties "$@"'
)
LEADER = re.compile(r"Partition: (\d+)\s+Leader: (-?\d+)")


def kafka_node(release: Release, ordinal: int) -> str:
    return f"{release.fullname}-kafka-{ordinal}"


def kafka_tool(
    kubectl: Kubectl, release: Release, tool: str, *args: str, node: int = 0, timeout: float = 120
) -> str:
    """`tool` (e.g. kafka-topics.sh) with `args`, against the node's own client listener."""
    return kubectl(
        "-n",
        release.namespace,
        "exec",
        kafka_node(release, node),
        "--",
        "env",
        "KAFKA_HEAP_OPTS=-Xmx128m",
        "bash",
        "-c",
        TOOL,
        tool,
        *args,
        timeout=timeout,
    )


def partition_leaders(
    kubectl: Kubectl, release: Release, topic: str, node: int = 0
) -> dict[int, int]:
    """Partition -> the node id leading it (-1: none)."""
    out = kafka_tool(kubectl, release, "kafka-topics.sh", "--describe", "--topic", topic, node=node)
    return {int(p): int(leader) for p, leader in LEADER.findall(out)}


def busiest_leader(leaders: dict[int, int]) -> int:
    """The node leading the most partitions."""
    return Counter(leader for leader in leaders.values() if leader >= 0).most_common(1)[0][0]
