"""The production shape's security for local brokers: TLS from a CA made here (openssl),
SASL_SSL with SCRAM-SHA-512 for clients and brokers, PLAIN over TLS between the
controllers (KRaft controllers cannot use SCRAM: its credentials live in the metadata log
they serve), and the StandardAuthorizer with nothing allowed that no ACL allows.

The bootstrap users (``broker``, ``controller``, ``admin``) are super users; every other
user gets its rights from ``shopsys.kafka.access``.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..errors import ToolchainMissingError
from ..ports import HOST

SCRAM: Final = "SCRAM-SHA-512"
SUPER_USERS: Final = ("broker", "controller", "admin")
CERT_DAYS: Final = 30


def _jaas(module: str, **options: str) -> str:
    text = "".join(f' {key}="{value}"' for key, value in options.items())
    return f"org.apache.kafka.common.security.{module} required{text};"


@dataclass(frozen=True)
class KafkaSecurity:
    """The files and bootstrap passwords of one secured local cluster."""

    tls_dir: Path  # ca.crt, ca.key, keystore.pem (PKCS#8 key and certificate)
    passwords: dict[str, str]  # of the SUPER_USERS

    @classmethod
    def create(cls, directory: Path) -> KafkaSecurity:
        """A CA and one certificate for 127.0.0.1 and localhost, and random passwords
        (letters and digits: SCRAM's format arguments split on commas)."""
        tls_dir = directory / "tls"
        tls_dir.mkdir(parents=True, exist_ok=True)
        if not (tls_dir / "keystore.pem").exists():
            _make_certificates(tls_dir)
        # Kept beside the certificates: a formatted node knows its super users' credentials
        # from its first start on (``shopsys dev --data-dir`` runs on the same data again).
        saved = directory / "super-users.json"
        if saved.exists():
            passwords = json.loads(saved.read_text())
        else:
            passwords = {user: secrets.token_hex(16) for user in SUPER_USERS}
            saved.touch(mode=0o600)
            saved.write_text(json.dumps(passwords))
        return cls(tls_dir=tls_dir, passwords=passwords)

    @property
    def ca_file(self) -> Path:
        return self.tls_dir / "ca.crt"

    def node_properties(
        self, port: int, internal_port: int, controller_port: int
    ) -> dict[str, str]:
        controller = self.passwords["controller"]
        return {
            "listeners": (
                f"CLIENT://{HOST}:{port},INTERNAL://{HOST}:{internal_port},"
                f"CONTROLLER://{HOST}:{controller_port}"
            ),
            "advertised.listeners": f"CLIENT://{HOST}:{port},INTERNAL://{HOST}:{internal_port}",
            "listener.security.protocol.map": (
                "CLIENT:SASL_SSL,INTERNAL:SASL_SSL,CONTROLLER:SASL_SSL"
            ),
            "inter.broker.listener.name": "INTERNAL",
            "sasl.enabled.mechanisms": SCRAM,
            "sasl.mechanism.inter.broker.protocol": SCRAM,
            "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
            "sasl.mechanism.controller.protocol": "PLAIN",
            "listener.name.client.scram-sha-512.sasl.jaas.config": _jaas("scram.ScramLoginModule"),
            "listener.name.internal.scram-sha-512.sasl.jaas.config": _jaas(
                "scram.ScramLoginModule", username="broker", password=self.passwords["broker"]
            ),
            "listener.name.controller.plain.sasl.jaas.config": _jaas(
                "plain.PlainLoginModule",
                username="controller",
                password=controller,
                user_controller=controller,
            ),
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.tls_dir / "keystore.pem"),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.ca_file),
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "false",
            "super.users": ";".join(f"User:{user}" for user in SUPER_USERS),
        }

    def format_arguments(self) -> list[str]:
        """`kafka-storage format` arguments that create the SCRAM super users (first format
        only: later changes go through the Admin API)."""
        return [
            f"--add-scram={SCRAM}=[name={user},password={self.passwords[user]}]"
            for user in ("broker", "admin")
        ]

    def write_admin_properties(self, path: Path) -> Path:
        """Java client properties of the admin super user, readable by the owner only: for
        Kafka's own tools (``kafka-topics.sh --command-config``)."""
        jaas = _jaas("scram.ScramLoginModule", username="admin", password=self.passwords["admin"])
        lines = {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": SCRAM,
            "sasl.jaas.config": jaas,
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.ca_file),
        }
        path.touch(mode=0o600)
        path.write_text("".join(f"{key}={value}\n" for key, value in lines.items()))
        return path

    def client_config(self, user: str, password: str) -> dict[str, str]:
        """librdkafka properties of a client authenticating as `user`."""
        return {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": SCRAM,
            "sasl.username": user,
            "sasl.password": password,
            "ssl.ca.location": str(self.ca_file),
        }


def _make_certificates(tls_dir: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ToolchainMissingError("openssl is needed to make the local Kafka's certificates")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=tls_dir, check=True, capture_output=True, timeout=60)

    days = str(CERT_DAYS)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
        "-days", days, "-subj", "/CN=shopsys local Kafka CA")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out", "broker.csr",
        "-subj", "/CN=localhost")  # fmt: skip
    (tls_dir / "san.ext").write_text(f"subjectAltName=DNS:localhost,IP:{HOST}\n")
    run("x509", "-req", "-in", "broker.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "broker.crt", "-days", days, "-extfile", "san.ext")  # fmt: skip
    # PKCS#8 key (OpenSSL 3 writes it so) then the certificate: Kafka's PEM key store.
    (tls_dir / "keystore.pem").write_text(
        (tls_dir / "broker.key").read_text() + (tls_dir / "broker.crt").read_text()
    )
