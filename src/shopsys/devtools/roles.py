"""The ``shopsys`` roles as local processes, started exactly as in production.

``shopsys dev`` runs them, and so do the end-to-end, fault and benchmark tests.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import httpx

from shopsys.settings import KafkaSettings

from .errors import ServerStartError
from .ports import HOST
from .process import ManagedProcess


def shopsys_command() -> list[str]:
    """The ``shopsys`` console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("shopsys")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "shopsys"]


class RoleProcess(ManagedProcess):
    """One ``shopsys`` role (or another HTTP server), ready when `ready_url` answers 200."""

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        ready_url: str,
        command: Sequence[str] | None = None,  # default: the shopsys console script
    ) -> None:
        super().__init__(log_path)
        self.name = name
        self.command = list(command) if command is not None else shopsys_command()
        self.args = list(args)
        self.env = dict(env)
        self.ready_url = ready_url

    def _command(self) -> Sequence[str]:
        return [*self.command, *self.args]

    def _env(self) -> Mapping[str, str]:
        return self.env

    def _ready(self, timeout: float) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return httpx.get(self.ready_url, timeout=timeout).status_code == 200
        return False


def role_environment(kafka_bootstrap: str, mongodb_uri: str, management_url: str) -> dict[str, str]:
    return {
        "SHOPSYS_KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "SHOPSYS_MONGODB_URI": mongodb_uri,
        "SHOPSYS_MANAGEMENT_API_URL": management_url,
    }


# What says where Kafka is and who a client is: a role's own, unlike the topic names.
CONNECTION_FIELDS = (
    "bootstrap_servers",
    "security_protocol",
    "sasl_mechanism",
    "sasl_username",
    "sasl_password",
    "ssl_ca_location",
    "ssl_certificate_location",
    "ssl_key_location",
)


def kafka_environment(settings: KafkaSettings) -> dict[str, str]:
    """The ``SHOPSYS_KAFKA_*`` variables that connect a role as these settings do."""
    values = settings.model_dump(include=set(CONNECTION_FIELDS), exclude_none=True)
    if settings.sasl_password is not None:
        values["sasl_password"] = settings.sasl_password.get_secret_value()
    return {f"SHOPSYS_KAFKA_{key.upper()}": str(value) for key, value in values.items()}


def serve_role(
    role: Literal["web", "consumer"],
    port: int,
    env: Mapping[str, str],
    log_path: Path,
    name: str | None = None,
) -> RoleProcess:
    """``shopsys serve-<role>`` on 127.0.0.1:`port`, ready when its /readyz answers 200."""
    return RoleProcess(
        name or f"serve-{role}",
        [f"serve-{role}", "--host", HOST, "--port", str(port)],
        env,
        log_path,
        f"http://{HOST}:{port}/readyz",
    )


def start_roles(
    *,
    kafka_bootstrap: str,
    mongodb_uri: str,
    web_port: int,
    management_port: int,
    log_dir: Path,
    extra_env: Mapping[str, str] | None = None,
    web_env: Mapping[str, str] | None = None,
    consumer_env: Mapping[str, str] | None = None,
) -> tuple[RoleProcess, RoleProcess]:
    """Start serve-consumer and serve-web on 127.0.0.1 and wait until both answer; each role's
    own variables (its Kafka user, say) come on top of the shared ones."""
    management_url = f"http://{HOST}:{management_port}"
    env = {**role_environment(kafka_bootstrap, mongodb_uri, management_url), **(extra_env or {})}
    consumer = serve_role(
        "consumer", management_port, {**env, **(consumer_env or {})}, log_dir / "consumer.log"
    ).launch()
    web = serve_role("web", web_port, {**env, **(web_env or {})}, log_dir / "web.log").launch()
    try:
        consumer.wait_ready()
        web.wait_ready()
    except ServerStartError:
        web.stop(10)
        consumer.stop(10)
        raise
    return web, consumer
