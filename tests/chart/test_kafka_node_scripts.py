"""The bundled Kafka's node scripts, run for real with bash and openssl: start.sh refuses a
certificate that cannot work with a message naming what is wrong, ready.sh holds a node back
until it is in sync."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.chart import chartkit
from tests.chart.chartkit import RenderKey
from tests.chart.manifests import Renders

HEADLESS = "shopping-system-kafka-headless.shopping-system.svc.cluster.local"
NODE = "shopping-system-kafka-1"
TLS_SECRET = "shopping-system-kafka-tls"  # noqa: S105 (a Secret's name)


def _script(renders: Renders, name: str) -> str:
    docs = renders[RenderKey("default-values", chartkit.KUBE_VERSIONS[-1], keda=True)]
    script: str = chartkit.one(docs, "ConfigMap", "shopping-system-kafka-scripts")["data"][name]
    return script


def _openssl(cwd: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _ca(directory: Path, name: str) -> None:
    _openssl(directory, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.crt")  # fmt: skip


def _node_certificate(directory: Path, ca: str, dns: str, days: int) -> None:
    """tls.key (PKCS#1 or #8, as openssl writes it) and tls.crt naming `dns`, signed by `ca`."""
    _openssl(directory, "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=kafka",
             "-keyout", "tls.key", "-out", "tls.csr")  # fmt: skip
    (directory / "san.ext").write_text(f"subjectAltName=DNS:{dns}\n")
    _openssl(directory, "x509", "-req", "-in", "tls.csr", "-CA", f"{ca}.crt", "-CAkey",
             f"{ca}.key", "-CAcreateserial", "-days", str(days), "-extfile", "san.ext",
             "-out", "tls.crt")  # fmt: skip


@pytest.fixture
def start(latest_renders: Renders, tmp_path: Path) -> Path:
    """start.sh with its paths moved under tmp_path and the image's launcher replaced by an
    echo; a volume already formatted, so it stops at the launcher once the checks pass."""
    script = _script(latest_renders, "start.sh")
    for path in ("/etc/kafka/users", "/etc/kafka/tls", "/tmp/shopsys-kafka"):  # noqa: S108
        script = script.replace(path, str(tmp_path / Path(path).name))
    script = script.replace("exec /etc/kafka/docker/run", "echo launched")
    (tmp_path / "start.sh").write_text(script)
    users = tmp_path / "users"
    users.mkdir()
    for user in ("broker", "controller", "admin"):
        (users / f"{user}-password").write_text(f"{user}-secret")
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "meta.properties").write_text("node.id=1\n")
    (tmp_path / "tls").mkdir()
    _ca(tmp_path / "tls", "ca")
    _ca(tmp_path / "tls", "other-ca")
    return tmp_path


def _run_start(directory: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOSTNAME": NODE,
        "HEADLESS_DOMAIN": HEADLESS,
        "TLS_SECRET": TLS_SECRET,
        "KAFKA_LOG_DIRS": str(directory / "logs"),
    }
    return subprocess.run(
        ["bash", directory / "start.sh"], env=env, capture_output=True, text=True, check=False
    )


def test_a_node_starts_with_a_certificate_that_names_it(start: Path) -> None:
    _node_certificate(start / "tls", "ca", f"*.{HEADLESS}", days=2)
    started = _run_start(start)
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip().endswith("launched")
    keystore = (start / "shopsys-kafka" / "keystore.pem").read_text()
    assert keystore.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8, what Kafka reads


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("expired", f"kafka: tls.crt of Secret {TLS_SECRET} has expired (notAfter="),
        ("another CA", f"kafka: tls.crt of Secret {TLS_SECRET} does not verify against its "
                       "ca.crt: error 20 at 0 depth lookup: unable to get local issuer"),
        ("another name", f"kafka: tls.crt of Secret {TLS_SECRET} does not name {NODE}.{HEADLESS}"),
        ("no key", f"kafka: tls.key is missing from Secret {TLS_SECRET}"),
    ],
)  # fmt: skip
def test_a_certificate_that_cannot_work_stops_the_node_with_a_reason(
    start: Path, case: str, message: str
) -> None:
    tls = start / "tls"
    if case == "expired":
        _node_certificate(tls, "ca", f"*.{HEADLESS}", days=-1)
    elif case == "another CA":
        _node_certificate(tls, "other-ca", f"*.{HEADLESS}", days=2)
    elif case == "another name":
        _node_certificate(tls, "ca", "*.elsewhere.svc.cluster.local", days=2)
    else:
        _node_certificate(tls, "ca", f"*.{HEADLESS}", days=2)
        (tls / "tls.key").unlink()
    started = _run_start(start)
    assert started.returncode == 1
    assert message in started.stderr, started.stderr
    assert "launched" not in started.stdout


def test_a_kafka_node_is_ready_only_once_back_in_sync(
    latest_renders: Renders, tmp_path: Path
) -> None:
    """ready.sh, run against a fake `kafka-topics.sh` that prints the under-replicated
    partitions as Kafka 4.1 does: node 1 is held back while it is missing from an ISR it
    belongs in, not for another node's partitions; once ready, only the port is checked."""
    script = _script(latest_renders, "ready.sh")
    marker = tmp_path / "caught-up"
    tools = tmp_path / "bin"
    tools.mkdir()
    script = script.replace("/opt/kafka/config/caught-up", str(marker))
    script = script.replace("/opt/kafka/bin/", f"{tools}/")
    script = script.replace("/dev/tcp/127.0.0.1/9092", "/dev/null")
    (tmp_path / "ready.sh").write_text(script)
    line = "\tTopic: purchases\tPartition: {p}\tLeader: 0\tReplicas: {r}\tIsr: {i}\tElr: "

    def ready(*partitions: tuple[str, str]) -> subprocess.CompletedProcess[str]:
        out = "\n".join(line.format(p=n, r=r, i=i) for n, (r, i) in enumerate(partitions))
        fake = tools / "kafka-topics.sh"
        fake.write_text(f"#!/bin/bash\nprintf '%s\\n' {shlex.quote(out)}\n")
        fake.chmod(0o755)
        env = {"PATH": os.environ["PATH"], "HOSTNAME": NODE}
        env["HEADLESS_DOMAIN"] = HEADLESS
        return subprocess.run(
            ["bash", tmp_path / "ready.sh"], env=env, capture_output=True, text=True, check=False
        )

    lagging = ready(("0,1,2", "0,2"), ("1,2,10", "1,2,10"))
    assert lagging.returncode != 0
    assert "1 partitions of this node are out of sync" in lagging.stderr
    assert not marker.exists()
    assert ready(("0,2,10", "0,2"), ("10,2,0", "2,0")).returncode == 0  # others' partitions
    assert marker.exists()
    assert ready(("0,1,2", "0")).returncode == 0  # latched: the port alone from now on
