"""Watching the autoscalers from outside: replicas over time, the lag KEDA saw through the
external metrics API and the lag the consumer pods report in their own metrics."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from shopsys.devtools.errors import ProvisionError
from tests.results import result_file
from tests.support.polling import eventually as poll

from .cluster import ClusterInfo
from .kubectl import Kubectl

T = TypeVar("T")
LAG_METRIC = "shopsys_consumer_lag_messages"


@dataclass(frozen=True)
class Release:
    """The names of the installed release's objects, as the chart makes them."""

    namespace: str
    fullname: str

    @classmethod
    def of(cls, cluster: ClusterInfo) -> Release:
        name = "shopping-system"
        release = cluster.release
        return cls(cluster.namespace, release if name in release else f"{release}-{name}")

    @property
    def consumer(self) -> str:
        return f"{self.fullname}-consumer"

    @property
    def web(self) -> str:
        return f"{self.fullname}-web"


def get_json(kubectl: Kubectl, *args: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(kubectl(*args, "-o", "json", timeout=60))
    return result


def raw(kubectl: Kubectl, path: str) -> str:
    return kubectl("get", "--raw", path, timeout=30)


def eventually(check: Callable[[], T | None], *, timeout: float, what: str) -> T:
    """The integration tests' poll, at a pace that suits kubectl calls."""
    return poll(check, timeout=timeout, what=what, every=2.0)


def wait_for_replicas(
    kubectl: Kubectl, namespace: str, deployment: str, count: int, *, timeout: float = 600
) -> None:
    """Until the Deployment wants `count` replicas and has them all ready."""
    eventually(
        lambda: True if replicas(kubectl, namespace, deployment) == (count, count) else None,
        timeout=timeout,
        what=f"{deployment} at {count} ready replicas",
    )


def replicas(kubectl: Kubectl, namespace: str, deployment: str) -> tuple[int, int]:
    """(spec.replicas, ready replicas) of a Deployment."""
    doc = get_json(kubectl, "-n", namespace, "get", "deployment", deployment)
    return int(doc["spec"].get("replicas", 0)), int(doc["status"].get("readyReplicas", 0))


def pods(kubectl: Kubectl, namespace: str, deployment: str) -> list[dict[str, Any]]:
    selector = get_json(kubectl, "-n", namespace, "get", "deployment", deployment)["spec"][
        "selector"
    ]["matchLabels"]
    labels = ",".join(f"{key}={value}" for key, value in selector.items())
    items: list[dict[str, Any]] = get_json(kubectl, "-n", namespace, "get", "pods", "-l", labels)[
        "items"
    ]
    return items


def is_ready(pod: dict[str, Any]) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def keda_lag(kubectl: Kubectl, namespace: str, scaled_object: str) -> float | None:
    """The consumer lag KEDA's kafka scaler reports to the HPA (asked live through the
    external metrics API, as the HPA asks it)."""
    status = get_json(kubectl, "-n", namespace, "get", "scaledobject", scaled_object)["status"]
    metric = status["externalMetricNames"][0]
    selector = quote(f"scaledobject.keda.sh/name={scaled_object}")
    path = f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{metric}"
    items = json.loads(raw(kubectl, f"{path}?labelSelector={selector}"))["items"]
    return quantity(items[0]["value"]) if items else None


def quantity(text: str) -> float:
    """A Kubernetes quantity as the metrics APIs write it: "1200", "1500m", "2k"."""
    suffixes = {"m": 1e-3, "k": 1e3, "M": 1e6}
    if text[-1] in suffixes:
        return float(text[:-1]) * suffixes[text[-1]]
    return float(text)


def reported_lag(kubectl: Kubectl, namespace: str, pod: str, port: int) -> dict[str, float]:
    """The lag per partition one consumer pod reports on /metrics (through the API server's
    pod proxy, as a Prometheus inside the cluster would scrape it)."""
    text = raw(kubectl, f"/api/v1/namespaces/{namespace}/pods/{pod}:{port}/proxy/metrics")
    lag = {}
    for line in text.splitlines():
        if line.startswith(LAG_METRIC + "{"):
            labels, _, value = line.rpartition(" ")
            lag[labels] = float(value)
    return lag


@dataclass
class Sample:
    at: float  # seconds since the recorder started
    replicas: int  # what the HPA asked for (Deployment spec.replicas)
    ready: int
    keda_lag: float | None = None
    consumer_lag: float | None = None  # summed over the pods, when every partition reported


class PeriodicSampler(Generic[T]):
    """Calls ``sample`` in a thread every ``every`` seconds while the block runs: what it
    returns goes to ``samples``, what it raises to ``errors``, with the time it happened."""

    def __init__(self, sample: Callable[[], T], *, every: float, name: str) -> None:
        self.samples: list[T] = []
        self.errors: list[str] = []
        self.started = 0.0
        self._sample_once, self._every = sample, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> PeriodicSampler[T]:
        self.started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(60)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(self._sample_once())
            except Exception as error:
                self.errors.append(f"{self.elapsed():.0f}s: {error}")
            self._stop.wait(self._every)


class ScalingRecorder(PeriodicSampler[Sample]):
    """Samples a Deployment (and, for the consumer, both views of the lag) about every second."""

    def __init__(
        self,
        kubectl: Kubectl,
        namespace: str,
        deployment: str,
        scaled_object: str | None = None,  # set: record the lag too
        partitions: int = 12,
    ) -> None:
        super().__init__(self._sample, every=1.0, name="scaling-recorder")
        self.kubectl, self.namespace, self.deployment = kubectl, namespace, deployment
        self.scaled_object, self.partitions = scaled_object, partitions

    def __enter__(self) -> ScalingRecorder:
        super().__enter__()
        return self

    def _sample(self) -> Sample:
        at = self.elapsed()
        wanted, ready = replicas(self.kubectl, self.namespace, self.deployment)
        sample = Sample(at, wanted, ready)
        if self.scaled_object is not None:
            try:
                sample.keda_lag = keda_lag(self.kubectl, self.namespace, self.scaled_object)
                sample.consumer_lag = self._consumer_lag()
            except ProvisionError as error:  # a pod gone between listing and scraping
                self.errors.append(f"{at:.0f}s: {error}")
        return sample

    def _consumer_lag(self) -> float | None:
        per_partition: dict[str, float] = {}
        for pod in pods(self.kubectl, self.namespace, self.deployment):
            if is_ready(pod):
                port = next(
                    p["containerPort"]
                    for p in pod["spec"]["containers"][0]["ports"]
                    if p["name"] == "management"
                )
                name = pod["metadata"]["name"]
                per_partition |= reported_lag(self.kubectl, self.namespace, name, port)
        return sum(per_partition.values()) if len(per_partition) == self.partitions else None

    # --- what the samples say -----------------------------------------------------------------

    def first(self, predicate: Callable[[Sample], bool], after: float = 0.0) -> Sample | None:
        return next((s for s in self.samples if s.at >= after and predicate(s)), None)

    def until(
        self, predicate: Callable[[Sample], bool], *, timeout: float, what: str, after: float = 0.0
    ) -> Sample:
        """The first sample (at or after `after`) that satisfies `predicate`, waiting for it;
        a timeout says what the replicas and the lag did meanwhile."""
        try:
            return eventually(lambda: self.first(predicate, after), timeout=timeout, what=what)
        except AssertionError as timed_out:
            lags = [f"{s.at:.0f}s {s.keda_lag}/{s.consumer_lag}" for s in self.samples[-20:]]
            raise AssertionError(
                f"{timed_out}\nreplicas (wanted/ready): {self.trace()}\n"
                f"last lag samples (KEDA/consumers): {', '.join(lags)}\n"
                f"last errors: {self.errors[-5:]}"
            ) from None

    def peak(self) -> int:
        return max((s.replicas for s in self.samples), default=0)

    def trace(self) -> str:
        """Each change of (wanted, ready) replicas: "0s 1/1, 14s 5/1, 19s 5/5, ..."."""
        changes, last = [], None
        for s in self.samples:
            if (s.replicas, s.ready) != last:
                last = (s.replicas, s.ready)
                changes.append(f"{s.at:.0f}s {s.replicas}/{s.ready}")
        return ", ".join(changes)


def _of_users(user_prefix: str) -> dict[str, Any]:
    return {"user_id": {"$regex": f"^{re.escape(user_prefix)}-"}}


def stored_ids(mongodb: Any, user_prefix: str) -> list[str]:
    """The ids of the stored purchases whose user ids start with `user_prefix`-."""
    return [d["_id"] for d in mongodb.purchases.find(_of_users(user_prefix), {"_id": 1})]


def stored_counter(
    mongodb: Any, user_prefix: str, every: float = 5.0
) -> PeriodicSampler[tuple[float, int]]:
    """(monotonic time, how many purchases of the users `user_prefix`- are stored), sampled
    every `every` seconds while the block runs."""

    def count() -> tuple[float, int]:
        return time.monotonic(), mongodb.purchases.count_documents(_of_users(user_prefix))

    return PeriodicSampler(count, every=every, name="stored-count")


def forget_purchases(mongodb: Any, user_prefix: str) -> None:
    """Remove a test's purchases once checked: the tier's FerretDB (SQLite) answers a user's
    history by scanning the collection, so tens of thousands of leftovers slow every later
    test's reads."""
    mongodb.purchases.delete_many(_of_users(user_prefix))


def write_results(name: str, title: str, rows: list[tuple[str, str]], notes: str) -> str:
    lines = [f"# {title}", "", notes, "", "| measure | value |", "|---|---|"]
    lines += [f"| {measure} | {value} |" for measure, value in rows]
    report = "\n".join(lines) + "\n"
    result_file("cluster", f"{name}.md").write_text(report)
    return report
