"""Unit tests for the pure parts of shopsys.devtools.provision (no real servers here).

Past 300 lines: every provisioning recipe's cache rules, against the same fake downloads.
"""

from __future__ import annotations

import stat
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import shopsys.devtools.provision.cache as cache_module
from shopsys.devtools.ports import free_port
from shopsys.devtools.provision import (
    FerretDBServer,
    ProvisionError,
    ServerStartError,
    ToolchainMissingError,
    default_cache_dir,
    ensure_ferretdb,
    ensure_helm,
    ensure_kafka,
)
from shopsys.devtools.provision.artifacts import render_pom
from shopsys.devtools.provision.build import BuildContext, format_duration, run_step
from shopsys.devtools.provision.cache import MARKER, cached_build, cached_go_build, is_complete
from shopsys.devtools.provision.kafka_broker import (
    KafkaBroker,
    kafka_server_properties,
    new_cluster_id,
)
from shopsys.devtools.provision.toolchain import (
    parse_go_version,
    parse_java_major,
    require_go,
    require_java,
    require_maven,
)
from shopsys.devtools.provision.versions import KAFKA_VERSION, SLF4J_VERSION


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and line[0] != "#")


def _executable(path: Path, script: str) -> Path:
    path.write_text(script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


# --- cache dir -----------------------------------------------------------------------------


def test_cache_dir_from_env(tmp_path: Path) -> None:
    assert default_cache_dir({"SHOPSYS_CACHE_DIR": str(tmp_path / "c")}) == tmp_path / "c"


def test_cache_dir_default_is_under_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir({}) == tmp_path / ".cache" / "shopsys"
    assert default_cache_dir({"SHOPSYS_CACHE_DIR": "  "}) == tmp_path / ".cache" / "shopsys"


# --- server.properties ---------------------------------------------------------------------


def test_kafka_server_properties(tmp_path: Path) -> None:
    props = _props(kafka_server_properties(port=1234, controller_port=1235, data_dir=tmp_path))
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:1235"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:1234,CONTROLLER://127.0.0.1:1235"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:1234"
    assert props["log.dirs"] == str(tmp_path)
    assert props["auto.create.topics.enable"] == "false"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"


def test_kafka_server_properties_extra_overrides(tmp_path: Path) -> None:
    text = kafka_server_properties(
        port=1, controller_port=2, data_dir=tmp_path, extra={"num.partitions": "6", "a.b": "c"}
    )
    props = _props(text)
    assert props["num.partitions"] == "6"
    assert props["a.b"] == "c"
    assert text.splitlines().count("num.partitions=6") == 1
    assert "num.partitions=1" not in text.splitlines()


def test_cluster_id_is_22_char_urlsafe() -> None:
    ids = {new_cluster_id() for _ in range(20)}
    assert len(ids) == 20
    assert all(len(i) == 22 and "=" not in i and "/" not in i and "+" not in i for i in ids)


def test_cluster_id_never_starts_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    # 0xf8 encodes to "-" as the first base64url character; the second draw does not.
    draws = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\x00" + bytes(15))])
    monkeypatch.setattr(uuid, "uuid4", lambda: next(draws))
    assert new_cluster_id() == "AAAAAAAAAAAAAAAAAAAAAA"


def test_broker_picks_two_distinct_free_ports(tmp_path: Path) -> None:
    broker = KafkaBroker(tmp_path / "libs", tmp_path / "work")
    assert broker.port != broker.controller_port
    assert broker.bootstrap_servers == f"127.0.0.1:{broker.port}"
    assert free_port(exclude=frozenset({broker.port})) != broker.port


def test_pom_pins_kafka_and_slf4j2() -> None:
    pom = render_pom()
    assert "<artifactId>kafka_2.13</artifactId>" in pom
    assert f"<version>{KAFKA_VERSION}</version>" in pom
    assert f"<version>{SLF4J_VERSION}</version>" in pom
    assert SLF4J_VERSION.startswith("2.")
    assert "http" not in pom  # coordinates only, no repository URLs


# --- toolchains ----------------------------------------------------------------------------


def test_parse_versions() -> None:
    assert parse_java_major('openjdk version "17.0.15" 2025-04-15') == 17
    assert parse_java_major('java version "1.8.0_392"') == 8
    assert parse_java_major('openjdk version "21" 2023-09-19') == 21
    assert parse_java_major("garbage") is None
    assert parse_go_version("go version go1.26.8 linux/amd64") == (1, 26)


def test_missing_java_message(tmp_path: Path) -> None:
    with pytest.raises(ToolchainMissingError) as info:
        require_java(env={"PATH": str(tmp_path)})
    message = str(info.value)
    assert message.startswith("Java 17+ is required to run the test Kafka broker")
    assert "not found on PATH" in message
    assert "openjdk-17-jre-headless" in message


def test_old_java_is_rejected(tmp_path: Path) -> None:
    _executable(tmp_path / "java", "#!/bin/sh\necho 'openjdk version \"11.0.2\" 2019' >&2\n")
    with pytest.raises(ToolchainMissingError, match=r"is Java 11 \(install"):
        require_java(env={"PATH": str(tmp_path)})


def test_java_home_wins_over_path(tmp_path: Path) -> None:
    (tmp_path / "jdk" / "bin").mkdir(parents=True)
    java = _executable(
        tmp_path / "jdk" / "bin" / "java", "#!/bin/sh\necho 'openjdk version \"21.0.1\"' >&2\n"
    )
    assert require_java(env={"PATH": "", "JAVA_HOME": str(tmp_path / "jdk")}) == str(java)


def test_missing_maven_and_go_messages(tmp_path: Path) -> None:
    with pytest.raises(ToolchainMissingError, match=r"^Maven \(mvn\) is required to x: not found"):
        require_maven("x", env={"PATH": str(tmp_path)})
    with pytest.raises(ToolchainMissingError, match=r"^Go 1\.21\+ is required to y: not found"):
        require_go("y", env={"PATH": str(tmp_path)})


def test_ensure_without_toolchain_fails_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    cache = tmp_path / "cache"
    with pytest.raises(ToolchainMissingError, match="Maven"):
        ensure_kafka(cache)
    with pytest.raises(ToolchainMissingError, match="build FerretDB"):
        ensure_ferretdb(cache)
    with pytest.raises(ToolchainMissingError, match="build helm"):
        ensure_helm(cache)
    assert not any(p.name.startswith(("kafka-", "ferretdb-", "helm-")) for p in cache.glob("*"))


# --- build steps and the atomic cache ------------------------------------------------------


def test_run_step_failure_has_output_tail(tmp_path: Path) -> None:
    cmd = [sys.executable, "-c", "print('first'); print('boom happened'); raise SystemExit(3)"]
    with pytest.raises(ProvisionError) as info:
        run_step(cmd, label="doing x", log_path=tmp_path / "log", progress=print)
    assert "doing x failed" in str(info.value)
    assert "exited with code 3" in str(info.value)
    assert "boom happened" in str(info.value)


def test_run_step_heartbeat(tmp_path: Path) -> None:
    lines: list[str] = []
    cmd = [sys.executable, "-c", "import time; time.sleep(0.8)"]
    log = tmp_path / "log"
    run_step(cmd, label="building y", log_path=log, progress=lines.append, heartbeat=0.3)
    assert lines
    assert all(line.startswith("still building y (") for line in lines)


def test_format_duration() -> None:
    assert format_duration(3.25) == "3.2 s"
    assert format_duration(45) == "45 s"
    assert format_duration(201) == "3 min 21 s"


def test_cached_build_is_atomic(tmp_path: Path) -> None:
    calls: list[Path] = []

    def failing(ctx: BuildContext) -> None:
        calls.append(ctx.out_dir)
        (ctx.out_dir / "artifact").write_text("half")
        ctx.log_path.write_text("compiler said no\n")
        raise ProvisionError("broken build")

    with pytest.raises(ProvisionError, match="broken build") as info:
        cached_build(tmp_path, "thing-1", "fp", failing, print, what="thing", start_message="go")
    assert "full log:" in str(info.value)
    assert not (tmp_path / "thing-1").exists()
    assert not list(tmp_path.glob(".thing-1.tmp-*"))
    assert "compiler said no" in (tmp_path / "thing-1.failed.log").read_text()

    def ok(ctx: BuildContext) -> None:
        calls.append(ctx.out_dir)
        (ctx.out_dir / "artifact").write_text("full")

    entry = cached_build(tmp_path, "thing-1", "fp", ok, print, what="thing", start_message="go")
    assert entry == tmp_path / "thing-1"
    assert (entry / "artifact").read_text() == "full"
    assert (entry / MARKER).is_file()
    assert is_complete(entry, "fp")
    assert not (tmp_path / "thing-1.failed.log").exists()

    # warm: no build, fast, silent
    said: list[str] = []
    started = time.perf_counter()
    again = cached_build(tmp_path, "thing-1", "fp", ok, said.append, what="t", start_message="go")
    assert again == entry
    assert len(calls) == 2
    assert said == []
    assert time.perf_counter() - started < 0.1


def test_cached_build_replaces_incomplete_or_outdated(tmp_path: Path) -> None:
    (tmp_path / "thing-2").mkdir()
    (tmp_path / "thing-2" / "artifact").write_text("leftover without marker")
    (tmp_path / ".thing-2.tmp-stale").mkdir()
    assert not is_complete(tmp_path / "thing-2", "fp1")

    def ok(ctx: BuildContext) -> None:
        (ctx.out_dir / "artifact").write_text(ctx.out_dir.name)

    cached_build(tmp_path, "thing-2", "fp1", ok, print, what="t", start_message="go")
    assert is_complete(tmp_path / "thing-2", "fp1")
    assert not (tmp_path / ".thing-2.tmp-stale").exists()
    assert not is_complete(tmp_path / "thing-2", "fp2")  # pins changed: rebuild
    cached_build(tmp_path, "thing-2", "fp2", ok, print, what="t", start_message="go")
    assert is_complete(tmp_path / "thing-2", "fp2")


def test_warm_ensure_needs_no_toolchain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With complete entries, ensure_* only checks markers (no java/mvn/go, well under 1 s)."""
    import shopsys.devtools.provision.artifacts as artifacts

    cache = tmp_path / "cache"

    # Complete the entries through cached_build with the real fingerprints, fake contents.
    def fake_build(ctx: BuildContext) -> None:
        (ctx.out_dir / "libs").mkdir()

    def fake_cached_build(
        cache_dir: Path, name: str, fp: str, _build: Any, progress: Any, **kw: Any
    ) -> Path:
        return cached_build(cache_dir, name, fp, fake_build, progress, **kw)

    monkeypatch.setattr(artifacts, "require_maven", lambda *_a, **_k: "mvn")
    monkeypatch.setattr(cache_module, "require_go", lambda *_a, **_k: "go")
    monkeypatch.setattr(artifacts, "cached_build", fake_cached_build)
    monkeypatch.setattr(cache_module, "cached_build", fake_cached_build)
    for ensure in (ensure_kafka, ensure_ferretdb, ensure_helm):
        ensure(cache)
    monkeypatch.undo()
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    started = time.perf_counter()
    assert ensure_kafka(cache) == cache / f"kafka-{KAFKA_VERSION}" / "libs"
    assert ensure_ferretdb(cache).name == "ferretdb-sqlite"
    assert ensure_helm(cache).name == "helm"
    assert time.perf_counter() - started < 0.5


def test_a_go_build_runs_its_steps_with_the_go_build_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_module, "require_go", lambda *_a, **_k: "go")
    seen = tmp_path / "seen"

    def build(ctx: BuildContext, _go: str) -> None:
        ctx.run(["sh", "-c", f'echo "$GOGC $OWN" > {seen}'], label="probe", env={"OWN": "x"})

    cached_go_build(tmp_path / "cache", "probe", "1", "fp", build, lambda _m: None, purpose="t")

    assert seen.read_text().split() == [cache_module.GO_BUILD_ENV["GOGC"], "x"]


def test_package_data_present() -> None:
    from importlib import resources

    root = resources.files("shopsys.devtools.provision")
    for parts in (
        ("ferretdb_wrapper", "main.go"),
        ("ferretdb_wrapper", "go.mod"),
        ("ferretdb_wrapper", "go.sum"),
        ("kafka_config", "pom.xml.in"),
        ("kafka_config", "log4j2.xml"),
    ):
        assert root.joinpath(*parts).is_file(), parts
    assert (
        "github.com/FerretDB/FerretDB/ferretdb"
        in root.joinpath("ferretdb_wrapper", "main.go").read_text()
    )


# --- server process handling (with a stand-in executable, not a real server) ---------------


def test_server_start_failure_reports_log_tail(tmp_path: Path) -> None:
    script = "#!/bin/sh\necho 'cannot open db: disk on fire'\nexit 7\n"
    fake = _executable(tmp_path / "fake-ferretdb", script)
    server = FerretDBServer(fake, tmp_path / "work")
    with pytest.raises(ServerStartError) as info:
        server.start(timeout=10)
    assert "exited with code 7" in str(info.value)
    assert "disk on fire" in str(info.value)
    assert not server.running
    server.stop()  # idempotent
    server.kill()


def test_server_start_timeout_kills_process(tmp_path: Path) -> None:
    fake = _executable(tmp_path / "fake-ferretdb", "#!/bin/sh\necho waiting\nexec sleep 60\n")
    server = FerretDBServer(fake, tmp_path / "work")
    with pytest.raises(ServerStartError, match="did not become ready within 1 s"):
        server.start(timeout=1)
    assert not server.running
    assert server.pid is None
