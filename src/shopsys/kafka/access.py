"""Who may do what on a Kafka cluster with ``allow.everyone.if.no.acl.found=false``: one SCRAM
user per role, and the ACLs that role needs and nothing more.

- web writes the purchases topic (its idempotent producer needs no more since Kafka 2.8);
- consumer reads the purchases topic with its group, and writes the dead-letter topic;
- keda describes the topic and the group (KEDA's scaler reads offsets and watermarks);
- init creates the topics and grows their partitions.

``ensure_access`` is idempotent and run by a Kafka admin (a super user): a credential is
upserted (which is how a password is rotated), an ACL that exists already is left as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from confluent_kafka import KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialUpsertion,
)

from shopsys.settings import KafkaSettings

Role = Literal["web", "consumer", "keda", "init"]
ROLES: Final[tuple[Role, ...]] = ("web", "consumer", "keda", "init")
SCRAM_ITERATIONS: Final = 8192


@dataclass(frozen=True)
class Grant:
    """One ACL: ``operation`` allowed on a topic or group, for a role."""

    resource: Literal["topic", "group"]
    name: str
    operation: AclOperation


def grants(role: Role, settings: KafkaSettings) -> list[Grant]:
    """What ``role`` may do: the whole table, one row per role."""
    topic, dlq, group = settings.topic, settings.dlq_topic, settings.consumer_group
    table: dict[Role, list[Grant]] = {
        "web": [Grant("topic", topic, AclOperation.WRITE)],
        "consumer": [
            Grant("topic", topic, AclOperation.READ),
            Grant("group", group, AclOperation.READ),
            Grant("topic", dlq, AclOperation.WRITE),
        ],
        "keda": [
            Grant("topic", topic, AclOperation.DESCRIBE),
            Grant("group", group, AclOperation.DESCRIBE),
        ],
        "init": [
            Grant("topic", name, operation)
            for name in (topic, dlq)
            for operation in (AclOperation.CREATE, AclOperation.ALTER)
        ],
    }
    return table[role]


@dataclass(frozen=True)
class RoleUser:
    name: str
    password: str


class AccessError(RuntimeError):
    """The cluster refused a credential or an ACL; the message names which."""


class UsersFileError(ValueError):
    """A role's user name or password file is missing or empty; the message names it."""


def read_role_users(directory: Path) -> dict[Role, RoleUser]:
    """Every role's user from ``<role>-username`` and ``<role>-password`` in ``directory``
    (a mounted Secret)."""
    users: dict[Role, RoleUser] = {}
    for role in ROLES:
        name, password = (_read_secret(directory / f"{role}-{part}") for part in PARTS)
        users[role] = RoleUser(name, password)
    return users


PARTS: Final = ("username", "password")


def _read_secret(path: Path) -> str:
    try:
        value = path.read_text().strip()
    except OSError as error:
        raise UsersFileError(f"cannot read {path}: {error.strerror}") from error
    if not value:
        raise UsersFileError(f"{path} is empty")
    return value


def acl_bindings(users: Mapping[Role, RoleUser], settings: KafkaSettings) -> list[AclBinding]:
    kinds = {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP}
    return [
        AclBinding(
            kinds[grant.resource],
            grant.name,
            ResourcePatternType.LITERAL,
            f"User:{user.name}",
            "*",
            grant.operation,
            AclPermissionType.ALLOW,
        )
        for role, user in users.items()
        for grant in grants(role, settings)
    ]


def ensure_access(
    admin_settings: KafkaSettings,
    users: Mapping[Role, RoleUser],
    *,
    timeout: float = 30.0,
    log: Callable[[str], None] = lambda _: None,
) -> None:
    """Upsert each role's SCRAM-SHA-512 credential, then create its ACLs."""
    admin = AdminClient(admin_settings.client_config())
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
    upserts: list[UserScramCredentialAlteration] = [
        UserScramCredentialUpsertion(user.name, info, user.password.encode())
        for user in users.values()
    ]
    for name, future in admin.alter_user_scram_credentials(
        upserts, request_timeout=timeout
    ).items():
        try:
            future.result(timeout=timeout)
        except KafkaException as error:
            raise AccessError(f"SCRAM credential of {name}: {error.args[0].str()}") from error
        log(f"SCRAM-SHA-512 credential of {name} set")
    bindings = acl_bindings(users, admin_settings)
    for binding, future in admin.create_acls(bindings, request_timeout=timeout).items():
        try:
            future.result(timeout=timeout)
        except KafkaException as error:
            raise AccessError(f"ACL {binding}: {error.args[0].str()}") from error
    log(f"{len(bindings)} ACLs in place for {', '.join(users)}")
