"""What the rendered manifests must mean, whatever the scenario: one image, wiring between
the roles, credentials, the bundled Kafka and MongoDB, init and helm test, network policies.

Past 300 lines: the chart's cross-object rules, each a short test over the same renders.
"""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.chart import chartkit
from tests.chart.chartkit import RenderKey
from tests.chart.manifests import (
    Renders,
    component,
    consumer_container,
    containers,
    kafka_trigger,
    ours,
)


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


def test_secret_references_resolve(latest_renders: Renders) -> None:
    """Every secretKeyRef names the chart's Secret (with that key) or a user's existing Secret."""
    external = {
        "shop-kafka-user",
        "shop-kafka-tls",
        "shop-mongodb",
        "shop-management",
        "shop-confluent-api-key",
        "shop-msk-scram",
    }
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
                    if "secretKeyRef" in e.get("valueFrom", {})  # not a fieldRef
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


HEADLESS = "shopping-system-kafka-headless.shopping-system.svc.cluster.local"


def _kafka_env(docs: list[dict[str, Any]]) -> dict[str, Any]:
    kafka = chartkit.one(docs, "StatefulSet", "shopping-system-kafka")
    container = chartkit.pod_spec(kafka)["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_bundled_kafka_is_three_kraft_nodes_with_replicated_topics(
    latest_renders: Renders,
) -> None:
    docs = latest_renders[RenderKey("default-values", chartkit.KUBE_VERSIONS[-1], keda=True)]
    kafka = chartkit.one(docs, "StatefulSet", "shopping-system-kafka")
    assert kafka["spec"]["replicas"] == 3
    assert kafka["spec"]["volumeClaimTemplates"]
    env = _kafka_env(docs)
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == ",".join(
        f"{i}@shopping-system-kafka-{i}.{HEADLESS}:9093" for i in range(3)
    )
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert env["KAFKA_UNCLEAN_LEADER_ELECTION_ENABLE"] == "false"
    for name in (
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR",
        "KAFKA_DEFAULT_REPLICATION_FACTOR",
    ):
        assert env[name] == "3", name
    assert env["KAFKA_MIN_INSYNC_REPLICAS"] == env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "2"
    assert "KAFKA_ADVERTISED_LISTENERS" not in env, "each node sets its own (start.sh)"
    assert len(env["CLUSTER_ID"]) == 22
    config = chartkit.container_env(docs, consumer_container(docs))
    assert config["SHOPSYS_KAFKA_TOPIC_REPLICATION_FACTOR"] == "3"
    assert config["SHOPSYS_KAFKA_TOPIC_MIN_INSYNC_REPLICAS"] == "2"
    pdb = chartkit.one(docs, "PodDisruptionBudget", "shopping-system-kafka")
    assert pdb["spec"]["maxUnavailable"] == 1
    spec = chartkit.pod_spec(kafka)
    anti = spec["affinity"]["podAntiAffinity"]
    preferred = anti["preferredDuringSchedulingIgnoredDuringExecution"]
    assert preferred[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    probe = spec["containers"][0]["readinessProbe"]["exec"]["command"]
    assert probe[-1] == "/opt/shopsys-kafka/ready.sh"
    scripts = chartkit.one(docs, "ConfigMap", "shopping-system-kafka-scripts")["data"]
    assert "--under-replicated-partitions" in scripts["ready.sh"]
    assert 'KAFKA_ADVERTISED_LISTENERS="CLIENT://${fqdn}:9092' in scripts["start.sh"]


def test_kafka_pod_annotations_change_the_nodes_pod_template(helm: Path) -> None:
    """What a rolling update of the nodes is made of (the cluster tier rolls them this way)."""
    proc = chartkit.run(
        chartkit.template_args(
            helm, chartkit.KUBE_VERSIONS[-1], keda=True, sets=["kafka.bundled.podAnnotations.a=b"]
        )
    )
    assert proc.returncode == 0, proc.stderr
    kafka = chartkit.one(
        chartkit.parse_manifests(proc.stdout), "StatefulSet", "shopping-system-kafka"
    )
    annotations = kafka["spec"]["template"]["metadata"]["annotations"]
    assert annotations["a"] == "b"
    assert "checksum/scripts" in annotations


def test_bundled_kafka_authenticates_every_role_over_tls(latest_renders: Renders) -> None:
    """SASL_SSL everywhere: a SCRAM user per role from the chart's Secret, the CA the chart
    made; the brokers trust only super users and ACLs."""
    docs = latest_renders[RenderKey("default-values", chartkit.KUBE_VERSIONS[-1], keda=True)]
    env = _kafka_env(docs)
    assert env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"] == (
        "CLIENT:SASL_SSL,INTERNAL:SASL_SSL,CONTROLLER:SASL_SSL"
    )
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"].endswith("StandardAuthorizer")
    assert env["KAFKA_SUPER_USERS"] == "User:broker;User:controller;User:admin"
    users = chartkit.one(docs, "Secret", "shopping-system-kafka-users")
    assert users["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    roles = ("web", "consumer", "keda", "init", "admin", "broker", "controller")
    assert set(users["data"]) == {f"{r}-{part}" for r in roles for part in ("username", "password")}
    for doc in ours(docs):
        for container in containers(doc):
            role = "admin" if container["name"] == "kafka-access" else component(doc)
            if role == "test":  # the helm test talks to the storefront only
                continue
            config = chartkit.container_env(docs, container)
            assert config["SHOPSYS_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", role
            assert config["SHOPSYS_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"
            assert config["SHOPSYS_KAFKA_SSL_CA_LOCATION"] == "/etc/shopsys/kafka-tls/ca.crt"
            assert config["SHOPSYS_KAFKA_SASL_PASSWORD"]["secretKeyRef"] == {
                "name": "shopping-system-kafka-users",
                "key": f"{role}-password",
            }, container["name"]
    init = chartkit.pod_spec(chartkit.by_kind(docs, "Job")[0])
    assert init["initContainers"][0]["args"][:3] == [
        "kafka-access",
        "--users-dir",
        "/etc/shopsys/kafka-users",
    ]
    mounted = {v["name"]: v for v in init["volumes"]}["kafka-users"]["secret"]["items"]
    assert not [item for item in mounted if item["key"].startswith(("admin", "broker"))]
    trigger = kafka_trigger(docs)
    assert trigger is not None
    assert (trigger["metadata"]["sasl"], trigger["metadata"]["tls"]) == ("scram_sha512", "enable")
    auth = chartkit.one(docs, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    refs = auth["spec"]["secretTargetRef"]
    params = {ref["parameter"]: (ref["name"], ref["key"]) for ref in refs}
    assert params == {
        "username": ("shopping-system-kafka-users", "keda-username"),
        "password": ("shopping-system-kafka-users", "keda-password"),
        "ca": ("shopping-system-kafka-tls", "ca.crt"),
    }


def test_the_certificate_the_chart_makes_names_every_node_and_the_service(
    latest_renders: Renders, tmp_path: Path
) -> None:
    docs = latest_renders[RenderKey("default-values", chartkit.KUBE_VERSIONS[-1], keda=True)]
    tls = chartkit.one(docs, "Secret", "shopping-system-kafka-tls")["data"]
    for name in ("tls.crt", "ca.crt"):
        (tmp_path / name).write_bytes(base64.b64decode(tls[name]))
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", tmp_path / "ca.crt", tmp_path / "tls.crt"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    for host in (
        f"shopping-system-kafka-2.{HEADLESS}",
        "shopping-system-kafka.shopping-system.svc.cluster.local",
    ):
        checked = subprocess.run(
            ["openssl", "x509", "-noout", "-checkhost", host, "-in", tmp_path / "tls.crt"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "does match" in checked.stdout, checked.stdout
    checked = subprocess.run(
        ["openssl", "x509", "-noout", "-checkhost", "kafka.elsewhere", "-in", tmp_path / "tls.crt"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "does NOT match" in checked.stdout


def test_the_laptop_shape_is_one_plaintext_node(latest_renders: Renders) -> None:
    key = RenderKey("single-plaintext-kafka-values", chartkit.KUBE_VERSIONS[-1], keda=True)
    docs = latest_renders[key]
    kafka = chartkit.one(docs, "StatefulSet", "shopping-system-kafka")
    assert kafka["spec"]["replicas"] == 1
    env = _kafka_env(docs)
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"0@shopping-system-kafka-0.{HEADLESS}:9093"
    assert env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"] == (
        "CLIENT:PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"
    )
    assert env["KAFKA_MIN_INSYNC_REPLICAS"] == env["KAFKA_DEFAULT_REPLICATION_FACTOR"] == "1"
    assert "KAFKA_SUPER_USERS" not in env
    config = chartkit.container_env(docs, consumer_container(docs))
    assert config["SHOPSYS_KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT"
    assert "SHOPSYS_KAFKA_SASL_PASSWORD" not in config
    assert not [
        d
        for d in docs
        if d["kind"] in ("Secret", "PodDisruptionBudget", "TriggerAuthentication")
        and "kafka" in d["metadata"]["name"]
    ]
    assert "initContainers" not in chartkit.pod_spec(chartkit.by_kind(docs, "Job")[0])


def test_bundled_mongodb_keeps_its_password_in_a_file(latest_renders: Renders) -> None:
    docs = latest_renders[RenderKey("default-values", chartkit.KUBE_VERSIONS[-1], keda=True)]
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
    """Web and the Kafka admin step get no MongoDB credentials; the consumer and the init Job
    the application user, which the bundled MongoDB's initdb script creates with readWrite on
    its database only."""
    docs = latest_renders[RenderKey("default-values", chartkit.KUBE_VERSIONS[-1], keda=True)]
    for doc in ours(docs):
        for container in containers(doc):
            env = chartkit.container_env(docs, container)
            credentials = {n for n in env if "MONGODB" in n and n != "SHOPSYS_MONGODB_DATABASE"}
            if component(doc) in ("web", "test") or container["name"] == "kafka-access":
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
                # web and the Kafka admin step never talk to MongoDB
                if component(doc) not in ("test", "web") and container["name"] != "kafka-access":
                    assert "SHOPSYS_MONGODB_URI" in names, key


def test_tracing_reaches_both_roles_and_only_when_enabled(latest_renders: Renders) -> None:
    """The OTEL_* variables the chart sets are ones that turn the roles' tracing on, in the web
    and consumer pods only; without tracing.enabled no pod gets any."""
    from shopsys.tracing import requested_exporters

    traced = RenderKey("ingress-networkpolicy-values", chartkit.KUBE_VERSIONS[-1], keda=True)
    for key, docs in latest_renders.items():
        for doc in ours(docs):
            for container in containers(doc):
                env = chartkit.container_env(docs, container)
                otel = {name: value for name, value in env.items() if name.startswith("OTEL_")}
                role = component(doc)
                if key.scenario != traced.scenario or role not in ("web", "consumer"):
                    assert otel == {}, (key, role)
                    continue
                assert requested_exporters(otel) == ["otlp"], (key, role)
                assert otel["OTEL_EXPORTER_OTLP_ENDPOINT"] == (
                    "http://otel-collector.observability.svc.cluster.local:4318"
                )
                assert otel["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
                assert otel["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
                assert otel["OTEL_TRACES_SAMPLER_ARG"] == "0.25"
                assert otel["OTEL_EXPORTER_OTLP_TIMEOUT"] == "5000"
                assert otel["OTEL_K8S_POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
                assert otel["OTEL_RESOURCE_ATTRIBUTES"] == (
                    "k8s.namespace.name=shopping-system,"
                    f"k8s.deployment.name=shopping-system-{role},"
                    "k8s.pod.name=$(OTEL_K8S_POD_NAME),deployment.environment.name=staging"
                )
                names = [entry["name"] for entry in container["env"]]
                # $(OTEL_K8S_POD_NAME) is expanded only from a variable defined before it.
                assert names.index("OTEL_K8S_POD_NAME") < names.index("OTEL_RESOURCE_ATTRIBUTES")


def test_with_network_policies_the_roles_may_reach_the_collector(latest_renders: Renders) -> None:
    docs = latest_renders[
        RenderKey("ingress-networkpolicy-values", chartkit.KUBE_VERSIONS[-1], keda=True)
    ]
    policies = {d["metadata"]["name"]: d for d in chartkit.by_kind(docs, "NetworkPolicy")}
    collector = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "observability"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "opentelemetry-collector"}},
    }
    for name, policy in policies.items():
        rules = [
            rule
            for rule in policy["spec"].get("egress", [])
            if {"port": 4318, "protocol": "TCP"} in rule.get("ports", [])
        ]
        if name in ("shopping-system-web", "shopping-system-consumer"):
            assert rules == [{"ports": [{"port": 4318, "protocol": "TCP"}], "to": [collector]}]
        else:
            assert rules == [], name
