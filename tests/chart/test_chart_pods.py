"""What every pod of ours must have: probes, resources, the restricted security profile,
graceful termination, Helm's labels and services that select exactly one workload."""

from __future__ import annotations

from tests.chart import chartkit
from tests.chart.manifests import (
    LONG_RUNNING,
    OUR_COMPONENTS,
    Renders,
    component,
    consumer_container,
    containers,
)


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
