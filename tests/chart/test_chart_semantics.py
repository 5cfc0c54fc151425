"""What the rendered manifests must mean, whatever the scenario: one image, one consumer group,
bounded scaling, probes, the restricted security profile and Helm's labels."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
import yaml

from tests.chart import chartkit
from tests.chart.chartkit import CHART_DIR, RenderKey

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


def test_one_image_runs_every_role(latest_renders: Renders) -> None:
    for key, docs in latest_renders.items():
        images = {c["image"] for doc in ours(docs) for c in containers(doc)}
        assert images == {"shopsys:0.1.0"}, key
        args = {
            component(doc): chartkit.pod_spec(doc)["containers"][0]["args"][0] for doc in ours(docs)
        }
        assert args == {
            "web": "serve-web",
            "consumer": "serve-consumer",
            "init": "init",
            "test": "smoke",
        }, key


def test_image_tag_is_set_for_every_role_at_once(helm: chartkit.Path) -> None:
    proc = chartkit.run(
        chartkit.template_args(
            helm,
            chartkit.KUBE_VERSIONS[-1],
            keda=True,
            sets=["image.repository=registry.example/shop/shopsys", "image.tag=1.2.3"],
        )
    )
    assert proc.returncode == 0, proc.stderr
    docs = chartkit.parse_manifests(proc.stdout)
    assert {c["image"] for doc in ours(docs) for c in containers(doc)} == {
        "registry.example/shop/shopsys:1.2.3"
    }


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


def test_every_container_has_probes_and_resources(latest_renders: Renders) -> None:
    for key, docs in latest_renders.items():
        for doc in chartkit.workloads(docs):
            for container in containers(doc):
                where = f"{key} {doc['kind']}/{doc['metadata']['name']}/{container['name']}"
                resources = container["resources"]
                for kind in ("requests", "limits"):
                    assert {"cpu", "memory"} <= set(resources[kind]), where
                if doc["kind"] in LONG_RUNNING:
                    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                        assert probe in container, f"{where}: no {probe}"
                if component(doc) in ("web", "consumer"):
                    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", where
                    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz", where


def test_every_pod_meets_the_restricted_profile(latest_renders: Renders) -> None:
    for key, docs in latest_renders.items():
        for doc in chartkit.workloads(docs):
            spec = chartkit.pod_spec(doc)
            where = f"{key} {doc['kind']}/{doc['metadata']['name']}"
            assert spec["automountServiceAccountToken"] is False, where
            assert spec["enableServiceLinks"] is False, where
            for host_namespace in ("hostNetwork", "hostPID", "hostIPC"):
                assert not spec.get(host_namespace), where
            pod_sc = spec["securityContext"]
            assert pod_sc["runAsNonRoot"] is True, where
            assert pod_sc["runAsUser"] > 0, where
            assert pod_sc["seccompProfile"]["type"] == "RuntimeDefault", where
            for container in containers(doc):
                sc = container["securityContext"]
                assert sc["allowPrivilegeEscalation"] is False, where
                assert sc["capabilities"]["drop"] == ["ALL"], where
                assert not sc["capabilities"].get("add"), where
                assert not sc.get("privileged"), where
                assert sc["runAsNonRoot"] is True, where
                assert sc["seccompProfile"]["type"] == "RuntimeDefault", where
            if component(doc) in OUR_COMPONENTS:
                for container in containers(doc):
                    assert container["securityContext"]["readOnlyRootFilesystem"] is True, where
                    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
                    volumes = {v["name"]: v for v in spec["volumes"]}
                    tmp = volumes[mounts["/tmp"]]  # noqa: S108 - a path inside the container
                    assert "emptyDir" in tmp, f"{where}: /tmp must be an emptyDir"


def test_graceful_termination(latest_renders: Renders) -> None:
    for key, docs in latest_renders.items():
        consumer = chartkit.one(docs, "Deployment", "shopping-system-consumer")
        drain = float(
            chartkit.container_env(docs, consumer_container(docs))[
                "SHOPSYS_CONSUMER_SHUTDOWN_TIMEOUT_SECONDS"
            ]
        )
        assert chartkit.pod_spec(consumer)["terminationGracePeriodSeconds"] > drain, key
        web = chartkit.pod_spec(chartkit.one(docs, "Deployment", "shopping-system-web"))
        sleep = web["containers"][0]["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert 0 < sleep < web["terminationGracePeriodSeconds"], key
        for name in ("shopping-system-web", "shopping-system-consumer"):
            pdb = chartkit.one(docs, "PodDisruptionBudget", name)
            deployment = chartkit.one(docs, "Deployment", name)
            assert (
                pdb["spec"]["selector"]["matchLabels"]
                == deployment["spec"]["selector"]["matchLabels"]
            ), key
        # The only consumer (KEDA's minimum) serves the management API: never evicted.
        consumer_pdb = chartkit.one(docs, "PodDisruptionBudget", "shopping-system-consumer")
        assert consumer_pdb["spec"]["minAvailable"] == 1, key
        assert "maxUnavailable" not in consumer_pdb["spec"], key


HELM_LABELS = (
    "helm.sh/chart",
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
)


STABLE_POD_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
)


def test_labels_follow_helm_practice(latest_renders: Renders) -> None:
    for key, docs in latest_renders.items():
        for doc in docs:
            labels = doc["metadata"]["labels"]
            where = f"{key} {doc['kind']}/{doc['metadata']['name']}"
            assert set(HELM_LABELS) <= set(labels), where
            assert labels["app.kubernetes.io/instance"] == chartkit.RELEASE, where
            assert labels["app.kubernetes.io/managed-by"] == "Helm", where
            assert labels["helm.sh/chart"] == "shopping-system-0.1.0", where
        for doc in chartkit.workloads(docs):
            pod = chartkit.pod_labels(doc)
            # Pod templates carry only stable labels: a chart version bump alone restarts nothing.
            assert set(STABLE_POD_LABELS) <= set(pod), doc["metadata"]["name"]
            if doc["kind"] != "Pod":  # the helm test Pod is no template: it is labelled fully
                assert not {"helm.sh/chart", "app.kubernetes.io/version"} & set(pod), doc["kind"]
            if doc["kind"] in ("Deployment", "StatefulSet"):
                selector = doc["spec"]["selector"]["matchLabels"]
                # Selectors are immutable: only the stable labels, never version or chart.
                assert set(selector) == {
                    "app.kubernetes.io/name",
                    "app.kubernetes.io/instance",
                    "app.kubernetes.io/component",
                }, doc["metadata"]["name"]
                assert selector.items() <= pod.items(), doc["metadata"]["name"]


def test_every_service_selects_exactly_one_workload(latest_renders: Renders) -> None:
    for key, docs in latest_renders.items():
        pods = [
            (d["metadata"]["name"], chartkit.pod_labels(d))
            for d in chartkit.workloads(docs)
            if d["kind"] != "Job"
        ]
        for service in chartkit.by_kind(docs, "Service"):
            selector = service["spec"]["selector"]
            matched = [name for name, labels in pods if selector.items() <= labels.items()]
            assert len(matched) == 1, (
                f"{key} Service/{service['metadata']['name']} selects {matched}"
            )
            (workload,) = [
                d for d in chartkit.workloads(docs) if d["metadata"]["name"] == matched[0]
            ]
            port_names = {p["name"] for c in containers(workload) for p in c.get("ports", [])}
            for port in service["spec"]["ports"]:
                assert port["targetPort"] in port_names, (
                    f"{key} {service['metadata']['name']}: {port}"
                )


def test_secret_references_resolve(latest_renders: Renders) -> None:
    """Every secretKeyRef names the chart's Secret (with that key) or a user's existing Secret."""
    external = {"shop-kafka-user", "shop-kafka-tls", "shop-mongodb", "shop-management"}
    for key, docs in latest_renders.items():
        secrets = {
            d["metadata"]["name"]: d.get("data", {}) for d in chartkit.by_kind(docs, "Secret")
        }
        refs = []
        for doc in chartkit.workloads(docs):
            for container in containers(doc):
                refs += [
                    e["valueFrom"]["secretKeyRef"]
                    for e in container.get("env", [])
                    if "valueFrom" in e
                ]
        for auth in chartkit.by_kind(docs, "TriggerAuthentication"):
            refs += auth["spec"]["secretTargetRef"]
        for ref in refs:
            if ref["name"] in external:
                continue
            assert ref["name"] in secrets, f"{key}: {ref}"
            assert ref["key"] in secrets[ref["name"]], f"{key}: {ref}"


def test_external_kafka_credentials_reach_the_consumer_and_keda(latest_renders: Renders) -> None:
    key = RenderKey("external-kafka-mongodb-values", chartkit.KUBE_VERSIONS[-1], keda=True)
    docs = latest_renders[key]
    env = chartkit.container_env(docs, consumer_container(docs))
    assert env["SHOPSYS_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert env["SHOPSYS_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert env["SHOPSYS_KAFKA_SSL_CA_LOCATION"] == "/etc/shopsys/kafka-tls/ca.crt"
    assert env["SHOPSYS_KAFKA_SSL_CERTIFICATE_LOCATION"] == "/etc/shopsys/kafka-tls/user.crt"
    assert env["SHOPSYS_KAFKA_SSL_KEY_LOCATION"] == "/etc/shopsys/kafka-tls/user.key"
    assert env["SHOPSYS_KAFKA_SASL_USERNAME"]["secretKeyRef"] == {
        "name": "shop-kafka-user",
        "key": "user",
    }
    assert env["SHOPSYS_MONGODB_URI"]["secretKeyRef"] == {"name": "shop-mongodb", "key": "uri"}
    assert not [d for d in chartkit.workloads(docs) if component(d) in ("kafka", "mongodb")]

    trigger = kafka_trigger(docs)
    assert trigger is not None
    assert trigger["metadata"]["sasl"] == "scram_sha512"
    assert trigger["metadata"]["tls"] == "enable"
    assert trigger["metadata"]["version"] == "3.9.0"
    auth = chartkit.one(docs, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    params = {
        ref["parameter"]: (ref["name"], ref["key"]) for ref in auth["spec"]["secretTargetRef"]
    }
    assert params == {
        "username": ("shop-kafka-user", "user"),
        "password": ("shop-kafka-user", "password"),
        "ca": ("shop-kafka-tls", "ca.crt"),
        "cert": ("shop-kafka-tls", "user.crt"),
        "key": ("shop-kafka-tls", "user.key"),
    }


def test_bundled_kafka_is_a_single_kraft_node(latest_renders: Renders) -> None:
    docs = latest_renders[RenderKey("default-values", chartkit.KUBE_VERSIONS[-1], keda=True)]
    kafka = chartkit.one(docs, "StatefulSet", "shopping-system-kafka")
    assert kafka["spec"]["replicas"] == 1
    assert kafka["spec"]["volumeClaimTemplates"]
    env = {e["name"]: e["value"] for e in chartkit.pod_spec(kafka)["containers"][0]["env"]}
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    for name in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
        "KAFKA_DEFAULT_REPLICATION_FACTOR",
        "KAFKA_MIN_INSYNC_REPLICAS",
    ):
        assert env[name] == "1", name
    assert env["KAFKA_ADVERTISED_LISTENERS"] == (
        "PLAINTEXT://shopping-system-kafka-0.shopping-system-kafka-headless.shopping-system.svc.cluster.local:9092"
    )
    assert len(env["CLUSTER_ID"]) == 22
    mongo = chartkit.one(docs, "StatefulSet", "shopping-system-mongodb")
    mongo_spec = chartkit.pod_spec(mongo)
    mongo_env = {e["name"]: e for e in mongo_spec["containers"][0]["env"]}
    assert "MONGO_INITDB_ROOT_PASSWORD" not in mongo_env, "the password is read from a file"
    password_file = mongo_env["MONGO_INITDB_ROOT_PASSWORD_FILE"]["value"]
    mounts = {m["mountPath"]: m["name"] for m in mongo_spec["containers"][0]["volumeMounts"]}
    volume = {v["name"]: v for v in mongo_spec["volumes"]}[mounts["/etc/mongodb-auth"]]
    assert volume["secret"]["secretName"] == "shopping-system"
    assert password_file == "/etc/mongodb-auth/" + volume["secret"]["items"][0]["path"]
    assert volume["secret"]["items"][0]["key"] == "mongodb-root-password"
    secret = chartkit.one(docs, "Secret", "shopping-system")
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert {"mongodb-root-password", "mongodb-app-password"} <= set(secret["data"])


def test_roles_get_least_privileged_mongodb_credentials(latest_renders: Renders) -> None:
    """Web gets no MongoDB credentials; the consumer and the init Job the application user,
    which the bundled MongoDB's initdb script creates with readWrite on its database only."""
    docs = latest_renders[RenderKey("default-values", chartkit.KUBE_VERSIONS[-1], keda=True)]
    for doc in ours(docs):
        for container in containers(doc):
            env = chartkit.container_env(docs, container)
            credentials = {n for n in env if "MONGODB" in n and n != "SHOPSYS_MONGODB_DATABASE"}
            if component(doc) in ("web", "test"):
                assert credentials == set(), doc["metadata"]["name"]
                continue
            assert env["SHOPSYS_MONGODB_URI"] == (
                "mongodb://$(MONGODB_USERNAME):$(MONGODB_PASSWORD)@shopping-system-mongodb."
                "shopping-system.svc.cluster.local:27017/shopping?authSource=shopping"
            )
            assert env["MONGODB_USERNAME"] == "shopsys"
            assert env["MONGODB_PASSWORD"]["secretKeyRef"]["key"] == "mongodb-app-password"
            assert "root" not in str(env).lower(), doc["metadata"]["name"]
    mongo = chartkit.pod_spec(chartkit.one(docs, "StatefulSet", "shopping-system-mongodb"))
    env = {e["name"]: e.get("value") for e in mongo["containers"][0]["env"]}
    assert env["SHOPSYS_APP_USERNAME"] == "shopsys"
    assert env["SHOPSYS_APP_DATABASE"] == "shopping"
    mounts = {m["mountPath"]: m["name"] for m in mongo["containers"][0]["volumeMounts"]}
    initdb = {v["name"]: v for v in mongo["volumes"]}[mounts["/docker-entrypoint-initdb.d"]]
    script = chartkit.one(docs, "ConfigMap", initdb["configMap"]["name"])["data"]
    (source,) = script.values()
    assert 'roles: [{ role: "readWrite", db: database }]' in source


def test_init_job_and_helm_test(latest_renders: Renders) -> None:
    for key, docs in latest_renders.items():
        (job,) = chartkit.by_kind(docs, "Job")
        assert "helm.sh/hook" not in job["metadata"].get("annotations", {}), key
        assert job["metadata"]["name"] == "shopping-system-init-1", key
        args = chartkit.pod_spec(job)["containers"][0]["args"]
        assert args[:2] == ["init", "--timeout"], key
        assert float(args[2]) > 0, key
        (pod,) = chartkit.by_kind(docs, "Pod")
        assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test", key
        # a passed test Pod goes away, or helm uninstall would leave it behind
        policy = pod["metadata"]["annotations"]["helm.sh/hook-delete-policy"].split(",")
        assert {"before-hook-creation", "hook-succeeded"} <= set(policy), key
        smoke = pod["spec"]["containers"][0]["args"]
        assert smoke[:3] == [
            "smoke",
            "--web-url",
            "http://shopping-system-web.shopping-system.svc.cluster.local:80",
        ]


@pytest.mark.parametrize("keda", [True, False])
def test_network_policies_cover_the_architecture(latest_renders: Renders, keda: bool) -> None:
    docs = latest_renders[
        RenderKey("ingress-networkpolicy-values", chartkit.KUBE_VERSIONS[-1], keda=keda)
    ]
    policies = {d["metadata"]["name"]: d for d in chartkit.by_kind(docs, "NetworkPolicy")}
    deny = policies["shopping-system-default-deny"]
    assert deny["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny["spec"]
    assert {p["port"] for rule in deny["spec"]["egress"] for p in rule["ports"]} == {53}
    for workload in chartkit.workloads(docs):
        labels = chartkit.pod_labels(workload)
        selecting = [
            name
            for name, policy in policies.items()
            if policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
        ]
        where = workload["metadata"]["name"]
        assert "shopping-system-default-deny" in selecting, where
        assert len(selecting) >= 2, f"{where}: no policy allows its flows"
    kafka_from = policies["shopping-system-kafka"]["spec"]["ingress"]
    peers = [peer for rule in kafka_from for peer in rule.get("from", [])]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}}} in peers
    consumer_from = policies["shopping-system-consumer"]["spec"]["ingress"][0]["from"]
    assert consumer_from == [
        {
            "podSelector": {
                "matchLabels": {
                    "app.kubernetes.io/name": "shopping-system",
                    "app.kubernetes.io/instance": "shopping-system",
                    "app.kubernetes.io/component": "web",
                }
            }
        }
    ]
    ingress = chartkit.one(docs, "Ingress", "shopping-system-web")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "shopping-system-web", "port": {"name": "http"}}


def test_every_shopsys_variable_is_a_real_setting(latest_renders: Renders) -> None:
    """The chart speaks the settings contract: no SHOPSYS_* name that shopsys.settings ignores."""
    from pydantic_settings import BaseSettings

    from shopsys import settings

    known = {
        f"{cls.model_config.get('env_prefix', '')}{field}".upper()
        for cls in vars(settings).values()
        if isinstance(cls, type) and issubclass(cls, BaseSettings) and cls is not BaseSettings
        for field in cls.model_fields
    }
    for key, docs in latest_renders.items():
        for doc in ours(docs):
            for container in containers(doc):
                names = {
                    n for n in chartkit.container_env(docs, container) if n.startswith("SHOPSYS_")
                }
                assert names - known == set(), f"{key} {doc['metadata']['name']}"
                if component(doc) != "test":  # smoke only needs --web-url
                    assert "SHOPSYS_KAFKA_BOOTSTRAP_SERVERS" in names, key
                if component(doc) not in ("test", "web"):  # web never talks to MongoDB
                    assert "SHOPSYS_MONGODB_URI" in names, key
