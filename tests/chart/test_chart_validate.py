"""Every rendered object validated against the real schemas: Kubernetes 1.31-1.35 (strict) from
kubernetes-validate, ScaledObject/TriggerAuthentication from the CRDs of the pinned KEDA module."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
from kubernetes_validate.utils import all_versions

from tests.chart.chartkit import KEDA_API, KUBE_VERSIONS, RenderKey

KEDA_KINDS = {"ScaledObject", "TriggerAuthentication"}


def test_kubernetes_validate_ships_every_supported_version() -> None:
    shipped = {version.rsplit(".", 1)[0] for version in all_versions()}
    wanted = {version.rsplit(".", 1)[0] for version in KUBE_VERSIONS}
    assert wanted <= shipped, f"kubernetes-validate lacks {sorted(wanted - shipped)}"


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_builtin_objects_match_the_kubernetes_schema(
    renders: dict[RenderKey, list[dict[str, Any]]], kube_version: str
) -> None:
    seen: set[str] = set()
    errors = []
    validated = 0
    for key, docs in renders.items():
        if key.kube_version != kube_version:
            continue
        for doc in docs:
            if doc["apiVersion"] == KEDA_API:
                continue
            fingerprint = json.dumps(doc, sort_keys=True)
            if fingerprint in seen:
                continue
            seen.add(fingerprint)
            try:
                kubernetes_validate.validate(doc, kube_version, strict=True)
                validated += 1
            except kubernetes_validate.ValidationError as error:
                path = ".".join(str(part) for part in error.path)
                errors.append(
                    f"{key} {doc['kind']}/{doc['metadata']['name']}: {path}: {error.message}"
                )
            except kubernetes_validate.SchemaNotFoundError as error:
                errors.append(f"{key}: {error.message}")
    assert errors == []
    assert validated >= 20


def test_keda_objects_match_the_crds_of_the_pinned_keda(
    renders: dict[RenderKey, list[dict[str, Any]]],
    keda_schemas: dict[tuple[str, str], dict[str, Any]],
) -> None:
    counts = {kind: 0 for kind in KEDA_KINDS}
    errors = []
    for key, docs in renders.items():
        for doc in docs:
            if doc["apiVersion"] != KEDA_API:
                continue
            assert doc["kind"] in KEDA_KINDS, f"{key}: unexpected KEDA kind {doc['kind']}"
            schema = keda_schemas[(doc["apiVersion"], doc["kind"])]
            for error in jsonschema.Draft7Validator(schema).iter_errors(doc):
                errors.append(
                    f"{key} {doc['kind']}/{doc['metadata']['name']}:"
                    f" {error.json_path}: {error.message}"
                )
            counts[doc["kind"]] += 1
    assert errors == []
    assert all(count > 0 for count in counts.values()), (
        f"not every KEDA kind was rendered: {counts}"
    )


def test_keda_schemas_reject_unknown_and_mistyped_fields(
    keda_schemas: dict[tuple[str, str], dict[str, Any]],
) -> None:
    """The strict CRD schemas must catch what the API server would reject or silently prune."""
    schema = keda_schemas[(KEDA_API, "ScaledObject")]
    good = {
        "apiVersion": KEDA_API,
        "kind": "ScaledObject",
        "metadata": {"name": "x"},
        "spec": {
            "scaleTargetRef": {"name": "d"},
            "triggers": [{"type": "cpu", "metadata": {"value": "50"}}],
        },
    }
    assert list(jsonschema.Draft7Validator(schema).iter_errors(good)) == []
    typo = json.loads(json.dumps(good))
    typo["spec"]["maxReplicas"] = 3
    assert list(jsonschema.Draft7Validator(schema).iter_errors(typo)), "unknown field accepted"
    number = json.loads(json.dumps(good))
    number["spec"]["triggers"][0]["metadata"]["value"] = 50
    assert list(jsonschema.Draft7Validator(schema).iter_errors(number)), (
        "trigger metadata must be strings"
    )


def test_only_known_kinds_are_rendered(renders: dict[RenderKey, list[dict[str, Any]]]) -> None:
    builtin = {
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "Ingress",
        "Job",
        "NetworkPolicy",
        "Pod",
        "PodDisruptionBudget",
        "Role",
        "RoleBinding",
        "Secret",
        "Service",
        "ServiceAccount",
        "StatefulSet",
    }
    kinds = {doc["kind"] for docs in renders.values() for doc in docs}
    assert kinds <= builtin | KEDA_KINDS, kinds - builtin - KEDA_KINDS
    assert {"Ingress", "NetworkPolicy", "TriggerAuthentication", "Role", "RoleBinding"} <= kinds
