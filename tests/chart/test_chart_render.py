"""helm lint --strict, rendering of every scenario, the values schema and the chart's checks.

Past 300 lines: one short test per rendered value, over the same renders.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.chart import chartkit
from tests.chart.chartkit import CHART_DIR, KUBE_VERSIONS, RenderKey


@pytest.mark.parametrize("scenario", chartkit.scenarios())
def test_helm_lint_strict(helm: Path, scenario: str) -> None:
    proc = chartkit.run(
        [
            helm,
            "lint",
            "--strict",
            CHART_DIR,
            "--kube-version",
            KUBE_VERSIONS[-1],
            "--values",
            chartkit.scenario_file(scenario),
        ]
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout


def test_required_scenarios_exist() -> None:
    names = set(chartkit.scenarios())
    assert {
        "default-values",
        "external-kafka-mongodb-values",
        "keda-disabled-values",
        "ingress-networkpolicy-values",
        "single-plaintext-kafka-values",
    } <= names


def test_every_render_is_complete(renders: dict[RenderKey, list[dict[str, Any]]]) -> None:
    assert len(renders) == len(chartkit.scenarios()) * len(KUBE_VERSIONS) * 2
    for key, docs in renders.items():
        kinds = {doc["kind"] for doc in docs}
        assert {"Deployment", "Service", "ConfigMap", "Job", "Pod"} <= kinds, key
        names = [(doc["kind"], doc["metadata"]["name"]) for doc in docs]
        assert len(names) == len(set(names)), f"duplicate objects in {key}"
        for doc in docs:
            assert doc["metadata"]["namespace"] == chartkit.NAMESPACE, (key, doc["metadata"])


def test_keda_presence_switches_autoscaling(renders: dict[RenderKey, list[dict[str, Any]]]) -> None:
    for key, docs in renders.items():
        scaled = {doc["metadata"]["name"] for doc in chartkit.by_kind(docs, "ScaledObject")}
        hpas = {
            doc["metadata"]["name"] for doc in chartkit.by_kind(docs, "HorizontalPodAutoscaler")
        }
        keda_used = key.keda and key.scenario != "keda-disabled-values"
        if keda_used:
            assert scaled == {"shopping-system-web", "shopping-system-consumer"}, key
            assert hpas == set(), f"{key}: KEDA creates the HPAs itself"
        else:
            assert scaled == set(), key
            assert hpas == {"shopping-system-web"}, (
                f"{key}: the CPU fallback HPA for web is missing"
            )


def _template(helm: Path, *sets: str, keda: bool = True) -> subprocess.CompletedProcess[str]:
    return chartkit.run(chartkit.template_args(helm, KUBE_VERSIONS[-1], keda=keda, sets=sets))


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (
            ["consumer.autoscaling.maxReplicas=13"],
            "consumer.autoscaling.maxReplicas (13) must not exceed kafka.topic.partitions (12)",
        ),
        (
            ["kafka.topic.partitions=6"],
            "consumer.autoscaling.maxReplicas (12) must not exceed kafka.topic.partitions (6)",
        ),
        (
            ["consumer.replicaCount=13"],
            "consumer.replicaCount (13) must not exceed kafka.topic.partitions (12)",
        ),
        (
            ["consumer.terminationGracePeriodSeconds=20"],
            "must exceed consumer.shutdownTimeoutSeconds (20)",
        ),
        (
            ["web.preStopSleepSeconds=30"],
            "web.terminationGracePeriodSeconds (30) must exceed web.preStopSleepSeconds (30)",
        ),
        (
            ["kafka.topic.replicationFactor=4"],
            "replicationFactor 4 needs at least as many Kafka nodes (kafka.bundled.replicas is 3)",
        ),
        (
            ["kafka.bundled.replicas=1", "kafka.topic.minInsyncReplicas=2"],
            "minInsyncReplicas must not exceed the replication factor (1)",
        ),
        (["kafka.bundled.security=SSL"], "/kafka/bundled/security"),
        (["kafka.bundled.replicas=0"], "/kafka/bundled/replicas"),
        (["kafka.bundled.enabled=false"], "kafka.external.bootstrapServers is required"),
        (
            ["mongodb.bundled.enabled=false"],
            "mongodb.external.uri or mongodb.external.existingSecret is required",
        ),
        (
            [
                "kafka.bundled.enabled=false",
                "kafka.external.bootstrapServers=k:9092",
                "kafka.external.securityProtocol=SASL_SSL",
            ],
            "needs kafka.external.sasl.existingSecret or kafka.external.sasl.username and password",
        ),
        (
            [
                "kafka.bundled.enabled=false",
                "kafka.external.bootstrapServers=k:9092",
                "kafka.external.securityProtocol=SSL",
                "kafka.external.tls.existingSecret=t",
                "kafka.external.tls.certKey=tls.crt",
            ],
            "certKey and kafka.external.tls.keyKey go together",
        ),
        (["mongodb.bundled.resources.limits.memory=1Ti"], "use a Mi, Gi, M or G quantity"),
        # The schema: unknown keys (typos), wrong types and unsafe security settings.
        (["web.autoscalling.enabled=true"], "additional properties 'autoscalling' not allowed"),
        (["consumer.autoscaling.minReplicas=0"], "/consumer/autoscaling/minReplicas"),
        (["keda.consumer.minReplicaCount=0"], "consumer.autoscaling.minReplicas (0) must be at"),
        (["keda.enabled=maybe"], "/keda/enabled"),
        (["kafka.autoOffsetReset=none"], "/kafka/autoOffsetReset"),
        (["kafka.bundled.image.tag=latest"], "/kafka/bundled/image/tag"),
        (
            ["containerSecurityContext.allowPrivilegeEscalation=true"],
            "/containerSecurityContext/allowPrivilegeEscalation",
        ),
        (["podSecurityContext.runAsUser=0"], "/podSecurityContext/runAsUser"),
        (["consumer.autoscaling.kafkaVersion=4"], "/consumer/autoscaling/kafkaVersion"),
        (["kafka.bundled.clusterId=-NDmKCqUTKO8msI4V9kxgw"], "/kafka/bundled/clusterId"),
        (
            ["consumer.pdb.maxUnavailable=1"],
            "consumer.pdb: set exactly one of minAvailable and maxUnavailable",
        ),
        (["tracing.enabled=true"], "tracing.otlpEndpoint is required when tracing.enabled"),
        (["tracing.protocol=grpc"], "/tracing/protocol"),  # the image has no gRPC exporter
        (["tracing.sampler=sometimes"], "/tracing/sampler"),
        (["tracing.samplerArg=2"], "/tracing/samplerArg"),
        (["tracing.otlpEndpoint=collector:4318"], "/tracing/otlpEndpoint"),
        (["tracing.extraEnv.SHOPSYS_KAFKA_TOPIC=x"], "does not match pattern '^OTEL_[A-Z0-9_]+$'"),
        ([r"tracing.resourceAttributes.team=a\,b"], "/tracing/resourceAttributes/team"),
    ],
)
def test_invalid_values_fail_with_a_clear_message(
    helm: Path, sets: list[str], message: str
) -> None:
    proc = _template(helm, *sets)
    assert proc.returncode != 0, f"helm template accepted {sets}"
    assert message in proc.stderr, proc.stderr


def test_wired_tiger_cache_follows_the_memory_limit(helm: Path) -> None:
    expected = {"1Gi": "0.25", "4Gi": "1.50", "3072Mi": "1.00", "512Mi": "0.25"}
    for limit, cache_gb in expected.items():
        proc = _template(helm, f"mongodb.bundled.resources.limits.memory={limit}")
        assert proc.returncode == 0, proc.stderr
        sts = chartkit.one(
            chartkit.parse_manifests(proc.stdout), "StatefulSet", "shopping-system-mongodb"
        )
        args = chartkit.pod_spec(sts)["containers"][0]["args"]
        assert args[args.index("--wiredTigerCacheSizeGB") + 1] == cache_gb, limit
    proc = _template(helm, "mongodb.bundled.wiredTigerCacheSizeGB=0.5")
    sts = chartkit.one(
        chartkit.parse_manifests(proc.stdout), "StatefulSet", "shopping-system-mongodb"
    )
    args = chartkit.pod_spec(sts)["containers"][0]["args"]
    assert args[args.index("--wiredTigerCacheSizeGB") + 1] == "0.5"


# --- values.yaml and values.schema.json ----------------------------------------------------------


def _value_paths(node: Any, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every mapping key of values.yaml (lists are leaves)."""
    paths: set[tuple[str, ...]] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            paths.add((*prefix, key))
            paths |= _value_paths(value, (*prefix, key))
    return paths


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        ref = schema["$ref"].removeprefix("#/$defs/")
        schema = root["$defs"][ref]
    return schema


def test_schema_covers_every_value_and_nothing_else() -> None:
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    missing = []
    for path in sorted(_value_paths(values)):
        node = schema
        for part in path:
            node = _resolve(node, schema)
            props = node.get("properties", {})
            if part not in props:
                missing.append(".".join(path))
                break
            node = props[part]
    assert missing == [], f"values without a schema entry: {missing}"

    def closed_objects(node: dict[str, Any], where: str) -> list[str]:
        node = _resolve(node, schema)
        open_ = []
        if "properties" in node:
            if node.get("additionalProperties") is not False:
                open_.append(where)
            for key, child in node["properties"].items():
                open_ += closed_objects(child, f"{where}.{key}")
        return open_

    assert closed_objects(schema, "values") == [], "schema objects with properties must be closed"


def test_every_value_is_documented_by_a_comment_starting_with_its_name() -> None:
    lines = (CHART_DIR / "values.yaml").read_text().splitlines()
    undocumented = []
    in_list_item_indent: int | None = None
    for number, line in enumerate(lines):
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if in_list_item_indent is not None and (indent > in_list_item_indent or not stripped):
            continue
        in_list_item_indent = None
        if stripped.startswith("- "):
            in_list_item_indent = indent
            continue
        if not stripped or stripped.startswith("#") or ":" not in stripped:
            continue
        key = stripped.split(":", 1)[0]
        comments = []
        previous = number - 1
        while previous >= 0 and lines[previous].lstrip().startswith("#"):
            comments.insert(0, lines[previous].strip())
            previous -= 1
        if not comments or not re.match(rf"# {re.escape(key)}\b", comments[0]):
            undocumented.append(f"line {number + 1}: {key}")
    assert undocumented == []


# --- NOTES.txt -----------------------------------------------------------------------------------


def _render_notes(
    helm: Path,
    tmp_path: Path,
    *,
    keda: bool,
    sets: tuple[str, ...] = (),
    apis: tuple[str, ...] = (),
) -> str:
    """NOTES.txt rendered through a copy of the chart that exposes it as a ConfigMap."""
    chart = tmp_path / "chart"
    shutil.copytree(CHART_DIR, chart)
    (chart / "notes.txt").write_text((chart / "templates" / "NOTES.txt").read_text())
    (chart / "templates" / "zz-notes.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\n"
        'data:\n  notes: {{ tpl (.Files.Get "notes.txt") . | quote }}\n'
    )
    args = chartkit.template_args(helm, KUBE_VERSIONS[-1], keda=keda, sets=sets, apis=apis)
    args[3] = chart
    args += ["--show-only", "templates/zz-notes.yaml"]
    proc = chartkit.run(args)
    assert proc.returncode == 0, proc.stderr
    return str(yaml.safe_load(proc.stdout)["data"]["notes"])


def test_notes_without_keda_say_what_was_installed_instead(helm: Path, tmp_path: Path) -> None:
    notes = _render_notes(helm, tmp_path, keda=False)
    assert "KEDA was NOT found" in notes
    assert "plain autoscaling/v2 HPA on CPU" in notes
    assert "consumer runs 2 fixed replicas" in notes
    assert "kubectl -n shopping-system port-forward svc/shopping-system-web 8000:80" in notes


def test_notes_with_keda_explain_how_to_watch_scaling(helm: Path, tmp_path: Path) -> None:
    notes = _render_notes(helm, tmp_path, keda=True)
    assert "KEDA was NOT found" not in notes
    assert 'lag of group "shopsys-consumer" on topic "purchases"' in notes
    assert "get scaledobject,hpa,pods -w" in notes
    assert "helm test shopping-system" in notes


MONITORING_ON = (
    "monitoring.serviceMonitor.enabled=true",
    "monitoring.prometheusRule.enabled=true",
    "monitoring.grafanaDashboard.enabled=true",
)


def test_notes_say_what_monitoring_installed(helm: Path, tmp_path: Path) -> None:
    notes = _render_notes(
        helm, tmp_path, keda=True, sets=MONITORING_ON, apis=(chartkit.MONITORING_API,)
    )
    assert (
        "ServiceMonitors (jobs shopping-system-web, shopping-system-management) and"
        " PrometheusRule shopping-system installed." in notes
    )
    assert 'Grafana dashboard "shopsys / shopping-system / shopping-system"' in notes
    assert "WARNING" not in notes


def test_notes_warn_when_the_prometheus_operator_is_missing(helm: Path, tmp_path: Path) -> None:
    notes = _render_notes(helm, tmp_path, keda=True, sets=MONITORING_ON)
    assert "the Prometheus Operator's CRDs) was NOT found, so neither was" in notes
    assert "5. Monitoring" not in _render_notes(helm, tmp_path / "off", keda=True)


def test_notes_say_the_shape_of_the_bundled_kafka(helm: Path, tmp_path: Path) -> None:
    shipped = _render_notes(helm, tmp_path / "shipped", keda=True)
    assert (
        "The bundled Kafka: 3 nodes, topics with replication factor 3 and "
        "min.insync.replicas 2, SASL_SSL." in shipped
    )
    assert 'Secret "shopping-system-kafka-users"' in shipped
    laptop = _render_notes(
        helm,
        tmp_path / "laptop",
        keda=True,
        sets=("kafka.bundled.replicas=1", "kafka.bundled.security=PLAINTEXT"),
    )
    one_node = "1 node, topics with replication factor 1 and min.insync.replicas 1, PLAINTEXT."
    assert one_node in laptop
    assert "SCRAM" not in laptop


# --- keda.consumer, the former place of consumer.autoscaling --------------------------------------

OLD_CONSUMER_NAMES = (
    "keda.consumer.minReplicaCount=2",
    "keda.consumer.maxReplicaCount=6",
    "keda.consumer.lagThreshold=50",
    "keda.consumer.behavior.scaleDown.stabilizationWindowSeconds=60",
)
NEW_CONSUMER_NAMES = (
    "consumer.autoscaling.minReplicas=2",
    "consumer.autoscaling.maxReplicas=6",
    "consumer.autoscaling.lagThreshold=50",
    "consumer.autoscaling.behavior.scaleDown.stabilizationWindowSeconds=60",
)


def _objects_but_generated_secrets(helm: Path, sets: tuple[str, ...]) -> list[dict[str, Any]]:
    proc = _template(helm, *sets)
    assert proc.returncode == 0, proc.stderr
    return [doc for doc in chartkit.parse_manifests(proc.stdout) if doc["kind"] != "Secret"]


def test_the_former_consumer_autoscaling_names_render_the_same_objects(helm: Path) -> None:
    old = _objects_but_generated_secrets(helm, OLD_CONSUMER_NAMES)
    new = _objects_but_generated_secrets(helm, NEW_CONSUMER_NAMES)
    assert old == new
    scaled = chartkit.one(new, "ScaledObject", "shopping-system-consumer")["spec"]
    assert (scaled["minReplicaCount"], scaled["maxReplicaCount"]) == (2, 6)
    assert scaled["triggers"][0]["metadata"]["lagThreshold"] == "50"
    assert old != _objects_but_generated_secrets(helm, ()), "the values took effect"


def test_notes_warn_that_keda_consumer_is_deprecated(helm: Path, tmp_path: Path) -> None:
    notes = _render_notes(helm, tmp_path, keda=True, sets=OLD_CONSUMER_NAMES)
    assert "DEPRECATED: keda.consumer is now consumer.autoscaling" in notes
    assert "6 replicas" in notes  # the notes describe what the old names set
    assert "DEPRECATED" not in _render_notes(helm, tmp_path / "new", keda=True)
