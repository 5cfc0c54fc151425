from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shopsys import cli, runners
from shopsys.cli import app

runner = CliRunner()


def test_help_lists_the_roles() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    commands = ("serve-web", "serve-consumer", "init", "kafka-access", "smoke", "dev", "version")
    for command in commands:
        assert command in result.output


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("serve-web", ["--port", "--kafka-bootstrap-servers", "--management-api-url"]),
        ("serve-consumer", ["--port", "--mongodb-uri", "--consumer-group", "--batch-size"]),
        ("init", ["--partitions", "--timeout"]),
        ("dev", ["--web-port", "--management-port"]),
        ("kafka-access", ["--users-dir", "--kafka-bootstrap-servers", "--timeout"]),
    ],
)
def test_each_command_documents_its_options(command: str, options: list[str]) -> None:
    result = runner.invoke(app, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0
    for option in options:
        assert option in result.output


def test_flags_override_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    captured: dict[str, Any] = {}

    def fake_run_web(kafka: Any, web: Any, management: Any, log: Any) -> None:
        captured.update(kafka=kafka, web=web, management=management, log=log)

    monkeypatch.setattr(runners, "run_web", fake_run_web)
    monkeypatch.setenv("SHOPSYS_WEB_PORT", "9001")
    monkeypatch.setenv("SHOPSYS_KAFKA_BOOTSTRAP_SERVERS", "env-broker:9092")
    monkeypatch.setenv("SHOPSYS_KAFKA_TOPIC", "env-topic")
    result = runner.invoke(app, ["serve-web", "--port", "9002", "--topic", "flag-topic"])
    assert result.exit_code == 0, result.output
    assert captured["web"].port == 9002
    assert captured["kafka"].topic == "flag-topic"
    assert captured["kafka"].bootstrap_servers == "env-broker:9092"


def test_version_prints_the_package_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.output.strip().count(".") == 2


def test_option_help_names_the_environment_variable() -> None:
    result = runner.invoke(app, ["serve-web", "--help"], terminal_width=200)
    assert "SHOPSYS_WEB_PORT" in result.output
    assert "SHOPSYS_KAFKA_BOOTSTRAP_SERVERS" in result.output


@pytest.mark.parametrize("command", ["serve-web", "serve-consumer"])
def test_a_tracing_setting_this_build_cannot_honour_stops_a_role_with_a_message(
    monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    monkeypatch.setattr(runners, "configure_logging", lambda _settings: None)  # keep pytest's
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    result = runner.invoke(app, [command])
    assert result.exit_code == 1
    assert f"{command}: OTEL_EXPORTER_OTLP_PROTOCOL=grpc: only http/protobuf" in result.output


def test_kafka_access_names_the_missing_users_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In-process: the command's SIGTERM thread would end the test session at the next SIGTERM.
    monkeypatch.setattr(cli, "_stop_on_sigterm", lambda _command: None)
    (tmp_path / "web-username").write_text("web")
    result = runner.invoke(app, ["kafka-access", "--users-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert f"kafka-access failed: cannot read {tmp_path / 'web-password'}" in result.output


@pytest.mark.parametrize("command", ["dev", "provision"])
def test_dev_tooling_absent_as_in_the_image_says_where_it_runs(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_find_spec = cli.importlib.util.find_spec

    def without_devtools(name: str, package: str | None = None) -> Any:
        return None if name == "shopsys.devtools" else real_find_spec(name, package)

    monkeypatch.setattr(cli.importlib.util, "find_spec", without_devtools)
    result = runner.invoke(app, [command])
    assert result.exit_code == 2
    assert "not installed here" in result.output
    assert "pip install -e ." in result.output
