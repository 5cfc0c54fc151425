"""Autoscaling as rendered: one consumer group, never more consumers than partitions,
gentle scale-down, and a Kafka trigger that speaks the bundled Kafka's protocol."""

from __future__ import annotations

import yaml

from tests.chart import chartkit
from tests.chart.chartkit import CHART_DIR
from tests.chart.manifests import (
    Renders,
    component,
    consumer_container,
    kafka_trigger,
)


def test_consumer_group_topic_and_offset_reset_match_the_trigger(latest_renders: Renders) -> None:
    checked = 0
    for key, docs in latest_renders.items():
        env = chartkit.container_env(docs, consumer_container(docs))
        assert env["SHOPSYS_KAFKA_CONSUMER_GROUP"], key
        assert env["SHOPSYS_KAFKA_TOPIC"], key
        trigger = kafka_trigger(docs)
        if trigger is None:
            continue
        meta = trigger["metadata"]
        assert meta["consumerGroup"] == env["SHOPSYS_KAFKA_CONSUMER_GROUP"], key
        assert meta["topic"] == env["SHOPSYS_KAFKA_TOPIC"], key
        assert meta["offsetResetPolicy"] == env["SHOPSYS_KAFKA_AUTO_OFFSET_RESET"], key
        assert meta["bootstrapServers"] == env["SHOPSYS_KAFKA_BOOTSTRAP_SERVERS"], key
        assert int(meta["lagThreshold"]) > 0, key
        assert int(meta["activationLagThreshold"]) >= 0, key
        checked += 1
    assert checked >= 3


def test_the_web_role_reaches_the_management_service(latest_renders: Renders) -> None:
    for key, docs in latest_renders.items():
        web = chartkit.pod_spec(chartkit.one(docs, "Deployment", "shopping-system-web"))[
            "containers"
        ][0]
        url = chartkit.container_env(docs, web)["SHOPSYS_MANAGEMENT_API_URL"]
        service = chartkit.one(docs, "Service", "shopping-system-management")
        port = service["spec"]["ports"][0]["port"]
        assert (
            url == f"http://shopping-system-management.shopping-system.svc.cluster.local:{port}"
        ), key
        consumer_port = consumer_container(docs)["ports"][0]
        assert service["spec"]["ports"][0]["targetPort"] == consumer_port["name"], key


def test_consumer_never_scales_beyond_the_partitions(latest_renders: Renders) -> None:
    for key, docs in latest_renders.items():
        partitions = int(
            chartkit.container_env(docs, consumer_container(docs))["SHOPSYS_KAFKA_TOPIC_PARTITIONS"]
        )
        deployment = chartkit.one(docs, "Deployment", "shopping-system-consumer")
        for scaled in chartkit.by_kind(docs, "ScaledObject"):
            if component(scaled) == "consumer":
                assert (
                    1
                    <= scaled["spec"]["minReplicaCount"]
                    <= scaled["spec"]["maxReplicaCount"]
                    <= partitions
                ), key
        if "replicas" in deployment["spec"]:
            assert deployment["spec"]["replicas"] <= partitions, key


def test_autoscaled_deployments_carry_no_replicas(latest_renders: Renders) -> None:
    for key, docs in latest_renders.items():
        targets = {
            d["spec"]["scaleTargetRef"]["name"] for d in chartkit.by_kind(docs, "ScaledObject")
        }
        targets |= {
            d["spec"]["scaleTargetRef"]["name"]
            for d in chartkit.by_kind(docs, "HorizontalPodAutoscaler")
        }
        for deployment in chartkit.by_kind(docs, "Deployment"):
            name = deployment["metadata"]["name"]
            if name in targets:
                assert "replicas" not in deployment["spec"], f"{key}: {name} is autoscaled"
            else:
                assert deployment["spec"]["replicas"] >= 1, f"{key}: {name} has fixed replicas"
        keda_used = key.keda and key.scenario != "keda-disabled-values"
        assert ("shopping-system-consumer" in targets) == keda_used, key
        assert "shopping-system-web" in targets, key


def test_scaling_targets_exist_and_web_scales_on_cpu_utilisation(latest_renders: Renders) -> None:
    for key, docs in latest_renders.items():
        names = {d["metadata"]["name"] for d in chartkit.by_kind(docs, "Deployment")}
        web = chartkit.pod_spec(chartkit.one(docs, "Deployment", "shopping-system-web"))[
            "containers"
        ][0]
        assert web["resources"]["requests"]["cpu"], f"{key}: CPU utilisation needs a CPU request"
        for scaled in chartkit.by_kind(docs, "ScaledObject"):
            ref = scaled["spec"]["scaleTargetRef"]
            assert ref["name"] in names, key
            assert ref["kind"] == "Deployment", key
            if component(scaled) == "web":
                (trigger,) = scaled["spec"]["triggers"]
                assert trigger["type"] == "cpu", key
                assert trigger["metricType"] == "Utilization", key
        for hpa in chartkit.by_kind(docs, "HorizontalPodAutoscaler"):
            assert hpa["spec"]["scaleTargetRef"]["name"] in names, key
            (metric,) = hpa["spec"]["metrics"]
            assert metric["resource"]["name"] == "cpu", key
            assert metric["resource"]["target"]["type"] == "Utilization", key


def test_consumer_scale_down_is_gentle(latest_renders: Renders) -> None:
    """One pod at a time after a long window: every removal rebalances the consumer group."""
    checked = 0
    for key, docs in latest_renders.items():
        for scaled in chartkit.by_kind(docs, "ScaledObject"):
            if component(scaled) != "consumer":
                continue
            down = scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"]["behavior"][
                "scaleDown"
            ]
            assert down["stabilizationWindowSeconds"] >= 120, key
            assert down["policies"], key
            for policy in down["policies"]:
                assert policy["type"] == "Pods", key
                assert policy["value"] == 1, key
                assert policy["periodSeconds"] >= 60, key
            checked += 1
    assert checked >= 3


def test_kafka_trigger_version_speaks_kafka_4(latest_renders: Renders) -> None:
    """KEDA's default 1.0.0 speaks protocol versions Kafka 4 removed (KIP-896, keda#6718)."""
    from shopsys.devtools.provision.versions import KAFKA_VERSION

    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    assert values["kafka"]["bundled"]["image"]["tag"] == KAFKA_VERSION, (
        "chart and tests run different Kafkas"
    )
    for key, docs in latest_renders.items():
        trigger = kafka_trigger(docs)
        if trigger is None:
            continue
        version = tuple(int(part) for part in trigger["metadata"]["version"].split("."))
        assert version >= (2, 1, 0), key
        kafka = [d for d in chartkit.by_kind(docs, "StatefulSet") if component(d) == "kafka"]
        if kafka:
            image = chartkit.pod_spec(kafka[0])["containers"][0]["image"]
            assert image == f"apache/kafka:{trigger['metadata']['version']}", key
