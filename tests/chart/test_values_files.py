"""Every values file is YAML whose mappings name each key once: YAML lets a repeated key
replace the earlier one silently (helm does the same), so a second `consumer:` block would
drop everything the first one set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart import chartkit

ROOT = Path(__file__).resolve().parents[2]
VALUES_FILES = sorted(
    [
        ROOT / "chart" / "values.yaml",
        *(ROOT / "chart" / "ci").glob("*.yaml"),
        ROOT / "tests" / "cluster" / "values.yaml",
    ]
)


class _StrictLoader(yaml.SafeLoader):
    """A SafeLoader that refuses a key repeated in one mapping."""


def _mapping(loader: _StrictLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} repeated", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def strict_load(text: str) -> Any:
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)


@pytest.mark.parametrize("path", VALUES_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_key_is_repeated(path: Path) -> None:
    strict_load(path.read_text())


def test_a_repeated_key_is_refused() -> None:
    with pytest.raises(yaml.constructor.ConstructorError, match="'consumer' repeated"):
        strict_load("consumer:\n  a: 1\nweb: {}\nconsumer:\n  b: 2\n")


def test_the_cluster_tiers_timing_reaches_both_scaled_objects(helm: Path) -> None:
    """What tests/cluster/values.yaml shortens is what the ScaledObjects get (the cluster
    tier's scaling tests wait on those timings)."""
    values_file = ROOT / "tests" / "cluster" / "values.yaml"
    values = strict_load(values_file.read_text())
    proc = chartkit.run(
        chartkit.template_args(helm, chartkit.KUBE_VERSIONS[-1], keda=True, values=[values_file])
    )
    assert proc.returncode == 0, proc.stderr
    docs = chartkit.parse_manifests(proc.stdout)
    for role in ("consumer", "web"):
        wanted = values[role]["autoscaling"]
        scaled = next(
            doc
            for doc in chartkit.by_kind(docs, "ScaledObject")
            if doc["metadata"]["name"].endswith(f"-{role}")
        )
        hpa = scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"]
        for direction, behavior in wanted["behavior"].items():
            assert hpa["behavior"][direction] == behavior, (role, direction)
        if "pollingInterval" in wanted:
            assert scaled["spec"]["pollingInterval"] == wanted["pollingInterval"], role
