"""The system installed by setup-env.sh, used through its Services from outside the cluster."""

from __future__ import annotations

import json
import shlex
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from .kit.cluster import ClusterInfo, tool_env
from .kit.kubectl import Kubectl

pytestmark = pytest.mark.cluster

PURCHASES = 2_000


def _post(client: httpx.Client, number: int, run: str) -> dict[str, Any]:
    """Purchase number `number` of the run: a third with an Idempotency-Key, a third without,
    a third through the legacy /buy. Idempotent requests are retried on 503 with the same key."""
    user = f"{run}-u{number % 97}"
    kind = number % 3
    for attempt in range(5):
        if kind == 0:
            response = client.post(
                "/api/v1/purchases",
                json={"user_id": user, "product_id": "p-001", "quantity": 1 + number % 3},
                headers={"Idempotency-Key": f"{run}-{number}"},
            )
        elif kind == 1:
            response = client.post(
                "/api/v1/purchases", json={"user_id": user, "product_id": "p-002"}
            )
        else:
            response = client.post(
                "/api/v1/buy",
                json={"username": f"Ann {number}", "userid": user, "price": 1.5 + number},
            )
        if response.status_code != 503 or kind != 0:
            break
        time.sleep(float(response.headers.get("Retry-After", "1")) * (attempt + 1))
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return {"kind": kind, "user": user, "purchase_id": body["purchase_id"]}


def test_purchases_through_the_services_are_stored_exactly_once(
    cluster: ClusterInfo, mongodb: Any
) -> None:
    run = f"c{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=cluster.web, timeout=30) as client, ThreadPoolExecutor(16) as pool:
        accepted = list(pool.map(lambda n: _post(client, n, run), range(PURCHASES)))
        # the same Idempotency-Key again: the same purchase, not a second one
        again = _post(client, 0, run)
        assert again["purchase_id"] == accepted[0]["purchase_id"]
        ids = {a["purchase_id"] for a in accepted}
        assert len(ids) == PURCHASES

        deadline = time.monotonic() + 180
        stored: set[str] = set()
        while time.monotonic() < deadline and stored != ids:
            stored = {
                d["_id"] for d in mongodb.purchases.find({"_id": {"$in": list(ids)}}, {"_id": 1})
            }
            time.sleep(1)
        assert stored == ids, f"{len(ids - stored)} accepted purchases never reached MongoDB"
        users = {a["user"] for a in accepted}
        assert mongodb.purchases.count_documents({"user_id": {"$in": list(users)}}) == PURCHASES

        # and they read back through the web Service (which asks the management API)
        for sample in accepted[:: PURCHASES // 40]:
            response = client.get(f"/api/v1/purchases/{sample['purchase_id']}")
            assert response.status_code == 200, response.text
            assert response.json()["user_id"] == sample["user"]
        history = client.get(f"/api/v1/users/{run}-u1/purchases", params={"limit": 100}).json()
        expected = sum(1 for a in accepted if a["user"] == f"{run}-u1")
        assert len(history["items"]) == expected


def test_management_service_answers_from_the_host(cluster: ClusterInfo) -> None:
    response = httpx.get(cluster.management + "/readyz", timeout=10)
    assert response.status_code == 200, response.text
    products = httpx.get(cluster.management + "/api/v1/products", timeout=10).json()
    assert len(products) == 6


def test_every_pod_of_the_release_is_admitted_under_restricted(
    cluster: ClusterInfo, kubectl: Kubectl
) -> None:
    namespace = json.loads(kubectl("get", "namespace", cluster.namespace, "-o", "json"))
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    pods = json.loads(kubectl("-n", cluster.namespace, "get", "pods", "-o", "json"))["items"]
    components = {p["metadata"]["labels"].get("app.kubernetes.io/component") for p in pods}
    assert {"web", "consumer", "kafka", "init"} <= components, components
    # a Pod that Pod Security refuses never exists: its controller reports FailedCreate
    events = json.loads(kubectl("-n", cluster.namespace, "get", "events", "-o", "json"))["items"]
    refusals = [e["message"] for e in events if "PodSecurity" in e.get("message", "")]
    assert refusals == []
    # enforcement is real: the API server refuses a pod that is not restricted
    proc = kubectl.run_raw(
        "-n", cluster.namespace, "run", "not-restricted", "--image=shopsys-cluster/pause:1",
        "--restart=Never", "--dry-run=server",
    )  # fmt: skip
    assert proc.returncode != 0
    assert 'violates PodSecurity "restricted' in proc.stderr


def test_the_load_command_of_the_notes_runs_in_the_restricted_namespace(
    cluster: ClusterInfo, kubectl: Kubectl
) -> None:
    """The load command NOTES.txt gives (setup-env.sh prints it), run as given: shorter, and
    not interactive."""
    notes = subprocess.run(
        [cluster.helm, "get", "notes", cluster.release, "--namespace", cluster.namespace],
        capture_output=True, text=True, env=tool_env(cluster), check=True, timeout=60,
    ).stdout  # fmt: skip
    lines = notes[notes.index("kubectl -n shopping-system run shopsys-load") :].splitlines()
    end = next(n for n, line in enumerate(lines) if not line.rstrip().endswith("\\"))
    printed = shlex.split(" ".join(line.rstrip().rstrip("\\") for line in lines[: end + 1]))
    assert printed[-4:] == ["--rate", "300", "--duration", "600"]
    argv = [a for a in printed[1:-4] if a not in {"--rm", "-it"}] + [
        "--rate",
        "20",
        "--duration",
        "5",
    ]
    kubectl(*argv)
    try:
        kubectl(
            "-n", cluster.namespace, "wait", "pod/shopsys-load",
            "--for=jsonpath={.status.phase}=Succeeded", "--timeout=120s", timeout=150,
        )  # fmt: skip
        assert "statuses   200:" in kubectl("-n", cluster.namespace, "logs", "shopsys-load")
    finally:
        kubectl(
            "-n", cluster.namespace, "delete", "pod", "shopsys-load", "--wait=false", check=False
        )


def test_web_runs_without_mongodb_credentials(cluster: ClusterInfo, kubectl: Kubectl) -> None:
    """Web never talks to MongoDB: the running web pods have no MongoDB setting at all."""
    for role, expected in (("web", False), ("consumer", True)):
        name = f"{cluster.release}-{role}"
        deployment = json.loads(
            kubectl("-n", cluster.namespace, "get", "deployment", name, "-o", "json")
        )
        env = deployment["spec"]["template"]["spec"]["containers"][0].get("env", [])
        has_uri = any(e["name"] == "SHOPSYS_MONGODB_URI" for e in env)
        assert has_uri is expected, (role, env)


def test_the_image_holds_only_what_the_roles_run(cluster: ClusterInfo, kubectl: Kubectl) -> None:
    """The development tools (local Kafka, FerretDB and helm builds, with their Go and Maven
    sources) and the test extras are not in the image the pods run; `shopsys dev` there says
    where it runs instead of failing on an import."""
    web = f"deployment/{cluster.release}-web"
    present = (
        "import importlib.util as u; print([m for m in"
        " ('shopsys.devtools', 'pytest', 'mongomock', 'playwright') if u.find_spec(m)])"
    )
    out = kubectl("-n", cluster.namespace, "exec", web, "--", "python", "-c", present)
    assert out.strip() == "[]"
    assert kubectl("-n", cluster.namespace, "exec", web, "--", "shopsys", "version").strip()
    dev = kubectl.run_raw("-n", cluster.namespace, "exec", web, "--", "shopsys", "dev")
    assert dev.returncode == 2, (dev.stdout, dev.stderr)
    assert "not installed here" in dev.stderr
