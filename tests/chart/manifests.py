"""Reading rendered manifests: which workloads are ours, their containers, the KEDA trigger."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.chart import chartkit
from tests.chart.chartkit import RenderKey

Renders = dict[RenderKey, list[dict[str, Any]]]

OUR_COMPONENTS = ("web", "consumer", "init", "test")
LONG_RUNNING = ("Deployment", "StatefulSet")


def component(doc: Mapping[str, Any]) -> str:
    return str(doc["metadata"]["labels"]["app.kubernetes.io/component"])


def ours(docs: list[dict[str, Any]]) -> list[Mapping[str, Any]]:
    """Workloads running the shopsys image (not the bundled Kafka and MongoDB)."""
    return [doc for doc in chartkit.workloads(docs) if component(doc) in OUR_COMPONENTS]


def containers(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    spec = chartkit.pod_spec(doc)
    return [*spec.get("initContainers", []), *spec["containers"]]


def consumer_container(docs: list[dict[str, Any]]) -> Mapping[str, Any]:
    deployment = chartkit.one(docs, "Deployment", "shopping-system-consumer")
    return chartkit.pod_spec(deployment)["containers"][0]


def kafka_trigger(docs: list[dict[str, Any]]) -> Mapping[str, Any] | None:
    scaled = [d for d in chartkit.by_kind(docs, "ScaledObject") if component(d) == "consumer"]
    if not scaled:
        return None
    (trigger,) = scaled[0]["spec"]["triggers"]
    assert trigger["type"] == "kafka"
    return trigger
