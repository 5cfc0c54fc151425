"""The operations page's two outside sources, each bounded and failure-tolerant: the probe
process (real child processes that answer, hang, abort or idle out) and the Kubernetes API
(an httpx mock transport speaking the API's JSON)."""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shopsys.management.operations.kubernetes import KubernetesReplicas
from shopsys.management.operations.model import Replicas, ReplicasView, Unavailable
from shopsys.management.operations.probe import ANSWER_GRACE_SECONDS, ProbeProcess, ProbeUnavailable

# Fake probe workers speak the real line protocol: a setup line, then request -> answer lines.
_PRELUDE = "import json, os, sys, time\nsetup = json.loads(sys.stdin.readline())\n"
ECHO = _PRELUDE + (
    "for line in sys.stdin:\n"
    "    print(json.dumps({'ok': {'setup': setup, 'request': json.loads(line)}}), flush=True)\n"
    "    if setup.get('once'): break\n"
)
SLOW = _PRELUDE + (
    "for line in sys.stdin:\n"
    "    time.sleep(json.loads(line).get('delay', 0))\n"
    "    print(json.dumps({'ok': {}}), flush=True)\n"
)
HANG = _PRELUDE + "sys.stdin.readline()\ntime.sleep(60)\n"
ABORT = _PRELUDE + "sys.stdin.readline()\nos.abort()\n"


def _process(script: str, clock: Any = time.monotonic, **setup: Any) -> ProbeProcess:
    return ProbeProcess(
        {"secret": "s3cret", **setup},
        command=[sys.executable, "-c", script],
        restart_after=10.0,
        start_allowance=5.0,
        clock=clock,
    )


def test_the_setup_reaches_the_process_on_stdin_and_answers_come_back() -> None:
    probe = _process(ECHO)
    try:
        first = probe.ask({"read": "offsets"}, timeout=5)
        second = probe.ask({"read": "group"}, timeout=5)
    finally:
        probe.close()
    assert first == {"ok": {"setup": {"secret": "s3cret"}, "request": {"read": "offsets"}}}
    assert second["ok"]["request"] == {"read": "group"}
    assert probe.started == 1  # one process, asked twice


ENVIRONMENT = _PRELUDE + (
    "sys.stdin.readline()\nprint(json.dumps({'ok': dict(os.environ)}), flush=True)\n"
)


def test_the_process_gets_no_credentials_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secrets = {
        "SHOPSYS_KAFKA_SASL_PASSWORD": "kafka-secret",
        "SHOPSYS_MONGODB_URI": "mongodb://user:secret@mongo:27017",
        "SHOPSYS_MANAGEMENT_TOKEN": "token-secret",
        "AWS_SECRET_ACCESS_KEY": "cloud-secret",
    }
    for name, value in {**secrets, "SHOPSYS_LOG_LEVEL": "DEBUG", "LC_ALL": "C.UTF-8"}.items():
        monkeypatch.setenv(name, value)
    probe = _process(ENVIRONMENT)
    try:
        environment = probe.ask({}, timeout=5)["ok"]
    finally:
        probe.close()
    assert not set(secrets) & set(environment)
    assert not set(secrets.values()) & set(environment.values())
    assert environment["SHOPSYS_LOG_LEVEL"] == "DEBUG"
    assert environment["LC_ALL"] == "C.UTF-8"
    assert environment["PATH"] == os.environ["PATH"]


def test_a_process_that_exited_idle_is_replaced_without_an_error() -> None:
    probe = _process(ECHO, once=True)  # answers once, then exits 0 like an idle worker
    try:
        assert "ok" in probe.ask({"read": "offsets"}, timeout=5)
        time.sleep(0.3)
        assert "ok" in probe.ask({"read": "offsets"}, timeout=5)
    finally:
        probe.close()
    assert probe.started == 2


def test_a_hanging_process_is_killed_at_the_deadline() -> None:
    probe = _process(HANG)
    started = time.monotonic()
    with pytest.raises(ProbeUnavailable, match="no answer from Kafka in time"):
        probe.ask({"read": "offsets"}, timeout=0.5)
    assert time.monotonic() - started < 0.5 + ANSWER_GRACE_SECONDS + 5.0 + 2.0  # + kill
    probe.close()


def test_an_answer_just_after_the_timeout_is_still_taken_not_killed() -> None:
    """The worker answers by 0.8 of the timeout, plus its write and a busy node's delays:
    the parent waits a little longer than the timeout before it kills."""
    probe = _process(SLOW)
    try:
        assert probe.ask({}, timeout=5) == {"ok": {}}  # started: the start allowance is spent
        late = ANSWER_GRACE_SECONDS / 2
        assert probe.ask({"delay": 0.3 + late}, timeout=0.3) == {"ok": {}}
    finally:
        probe.close()
    assert probe.started == 1


def test_a_crashed_process_is_reported_and_restarted_only_after_a_pause() -> None:
    now = [1000.0]
    probe = _process(ABORT, clock=lambda: now[0])
    with pytest.raises(ProbeUnavailable, match=r"died \(SIGABRT\)"):
        probe.ask({"read": "group"}, timeout=5)
    now[0] += 3
    with pytest.raises(ProbeUnavailable, match="retrying within 10s"):
        probe.ask({"read": "group"}, timeout=5)
    assert probe.started == 1  # no restart storm while Kafka misbehaves
    now[0] += 8
    with pytest.raises(ProbeUnavailable, match="SIGABRT"):
        probe.ask({"read": "group"}, timeout=5)
    assert probe.started == 2
    probe.close()


def test_a_process_that_cannot_start_is_a_failed_start_with_the_restart_pause(
    tmp_path: Path,
) -> None:
    now = [1000.0]
    probe = ProbeProcess(
        {}, command=[str(tmp_path / "no-python")], restart_after=10.0, clock=lambda: now[0]
    )
    with pytest.raises(ProbeUnavailable, match=r"could not start: .*No such file"):
        probe.ask({"read": "offsets"}, timeout=5)
    now[0] += 3
    with pytest.raises(ProbeUnavailable, match=r"could not start.*retrying within 10s"):
        probe.ask({"read": "offsets"}, timeout=5)
    now[0] += 8
    with pytest.raises(ProbeUnavailable, match="could not start: "):
        probe.ask({"read": "offsets"}, timeout=5)
    assert probe.started == 0


def test_an_answer_that_is_not_json_is_a_failure_not_an_exception() -> None:
    probe = _process(_PRELUDE + "sys.stdin.readline()\nprint('Traceback', flush=True)\n")
    with pytest.raises(ProbeUnavailable, match="not an answer"):
        probe.ask({}, timeout=5)
    probe.close()


@pytest.fixture
def high_descriptors() -> Iterator[None]:
    """Descriptors 0-1099 taken, as in a server with many connections: the next pipes are
    numbered above 1024, which select.select() refuses."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if max(soft, hard if hard != resource.RLIM_INFINITY else 4096) < 1200:
        pytest.fail("this test needs a descriptor limit of at least 1200 (ulimit -n 1200)")
    if soft != resource.RLIM_INFINITY and soft < 1200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1200, hard))
    taken: list[int] = []
    try:
        while not taken or taken[-1] < 1100:
            taken.append(os.dup(0))
        yield
    finally:
        for fd in taken:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_pipes_numbered_above_1024_are_read(high_descriptors: None) -> None:
    probe = _process(ECHO)
    try:
        answer = probe.ask({"read": "offsets"}, timeout=5)
    finally:
        probe.close()
    assert answer["ok"]["request"] == {"read": "offsets"}


DEPLOYMENT = {
    "kind": "Deployment",
    "metadata": {"name": "shop-web"},
    "spec": {"replicas": 3},
    "status": {"replicas": 3, "readyReplicas": 2, "availableReplicas": 2, "updatedReplicas": 3},
}


@pytest.fixture
def account(tmp_path: Path) -> Path:
    (tmp_path / "token").write_text("the-token\n")
    (tmp_path / "namespace").write_text("shop")
    return tmp_path


def _replicas(account: Path, handler: Any, **names: str | None) -> KubernetesReplicas:
    return KubernetesReplicas(
        names.get("web", "shop-web"),
        names.get("consumer", "shop-consumer"),
        account_dir=account,
        api_url="https://kubernetes.test",
        transport=httpx.MockTransport(handler),
    )


def test_replicas_are_read_with_the_service_account_token(account: Path) -> None:
    seen: list[tuple[str, str | None]] = []

    def api(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.headers.get("authorization")))
        if request.url.path.endswith("/shop-consumer"):
            body: dict[str, Any] = {
                "spec": {},
                "status": {},
            }  # a Deployment scaled to 0 leaves fields out
            return httpx.Response(200, content=json.dumps(body))
        return httpx.Response(200, content=json.dumps(DEPLOYMENT))

    view = _replicas(account, api).replicas()
    assert seen == [
        ("/apis/apps/v1/namespaces/shop/deployments/shop-web", "Bearer the-token"),
        ("/apis/apps/v1/namespaces/shop/deployments/shop-consumer", "Bearer the-token"),
    ]
    assert view == ReplicasView(
        web=Replicas(name="shop-web", desired=3, ready=2, available_replicas=2, updated=3),
        consumer=Replicas(
            name="shop-consumer", desired=1, ready=0, available_replicas=0, updated=0
        ),
    )


def test_without_permission_the_page_says_what_grants_it(account: Path) -> None:
    def forbidden(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/shop-web"):
            return httpx.Response(403, content=b'{"kind":"Status","reason":"Forbidden"}')
        return httpx.Response(404, content=b"{}")

    view = _replicas(account, forbidden).replicas()
    assert isinstance(view, ReplicasView)
    assert isinstance(view.web, Unavailable)
    assert "HTTP 403" in view.web.reason
    assert "consumer.opsPage.kubernetesReplicas.enabled" in view.web.reason
    assert view.consumer == Unavailable(reason="Deployment shop-consumer not found in shop")


def test_an_unreachable_api_server_is_a_reason_not_an_error(account: Path) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectTimeout("timed out", request=request)

    view = _replicas(account, down).replicas()
    assert isinstance(view, ReplicasView)
    assert view.web == Unavailable(reason="Kubernetes API unreachable: ConnectTimeout")


def test_outside_kubernetes_or_unconfigured_the_page_says_so(account: Path, tmp_path: Path) -> None:
    def never(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    unconfigured = _replicas(account, never, web=None, consumer=None).replicas()
    assert isinstance(unconfigured, Unavailable)
    assert unconfigured.reason.startswith("not configured")
    outside = KubernetesReplicas(
        "shop-web",
        "shop-consumer",
        account_dir=tmp_path / "none",
        transport=httpx.MockTransport(never),
    ).replicas()
    assert isinstance(outside, Unavailable)
    assert outside.reason.startswith("not running in Kubernetes")


def test_unreadable_service_account_files_are_a_reason_not_an_error(account: Path) -> None:
    def never(request: httpx.Request) -> httpx.Response:
        raise AssertionError("no request expected")

    (account / "namespace").unlink()
    view = _replicas(account, never).replicas()
    assert isinstance(view, Unavailable)
    assert view.reason.startswith("the service account's files cannot be read")
    assert "namespace" in view.reason

    (account / "namespace").write_text("shop")
    (account / "ca.crt").write_text("not a certificate")
    view = _replicas(account, never).replicas()
    assert isinstance(view, Unavailable)
    assert view.reason.startswith("the service account's files cannot be read")
