"""What each role may do on a secured Kafka: the table, and the ACL bindings made from it."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from shopsys.devtools.provision.kafka_security import KafkaSecurity
from shopsys.devtools.roles import kafka_environment
from shopsys.kafka.access import (
    ROLES,
    RoleUser,
    UsersFileError,
    acl_bindings,
    grants,
    read_role_users,
)
from shopsys.settings import KafkaSettings

SETTINGS = KafkaSettings(topic="purchases", dlq_topic="purchases.dlq", consumer_group="group")


def _rights(role: str) -> set[tuple[str, str, str]]:
    return {(g.resource, g.name, g.operation.name) for g in grants(role, SETTINGS)}  # type: ignore[arg-type]


def test_each_role_may_do_what_it_needs_and_nothing_more() -> None:
    assert _rights("web") == {("topic", "purchases", "WRITE")}
    assert _rights("consumer") == {
        ("topic", "purchases", "READ"),
        ("group", "group", "READ"),
        ("topic", "purchases.dlq", "WRITE"),
    }
    assert _rights("keda") == {("topic", "purchases", "DESCRIBE"), ("group", "group", "DESCRIBE")}
    assert _rights("init") == {
        (kind, name, operation)
        for kind, name in (("topic", "purchases"), ("topic", "purchases.dlq"))
        for operation in ("CREATE", "ALTER")
    }


def test_no_role_reaches_the_cluster_or_another_topic() -> None:
    names = {g.name for role in ROLES for g in grants(role, SETTINGS)}
    assert names == {"purchases", "purchases.dlq", "group"}


def test_bindings_are_literal_allows_for_each_users_principal() -> None:
    users = {"web": RoleUser("shop-web", "pw"), "keda": RoleUser("shop-keda", "pw")}
    bindings = acl_bindings(users, SETTINGS)  # type: ignore[arg-type]
    assert {b.principal for b in bindings} == {"User:shop-web", "User:shop-keda"}
    assert all(b.resource_pattern_type == ResourcePatternType.LITERAL for b in bindings)
    assert all(b.permission_type == AclPermissionType.ALLOW for b in bindings)
    assert all(b.host == "*" for b in bindings)
    web = [b for b in bindings if b.principal == "User:shop-web"]
    assert [(b.restype, b.name, b.operation) for b in web] == [
        (ResourceType.TOPIC, "purchases", AclOperation.WRITE)
    ]


def test_a_roles_environment_says_where_kafka_is_and_who_it_is_not_which_topics() -> None:
    settings = KafkaSettings(
        bootstrap_servers="a:9093",
        topic="elsewhere",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="web",
        sasl_password="s3cret",  # type: ignore[arg-type]  # noqa: S106 - a test value
        ssl_ca_location="/ca.crt",
    )
    assert kafka_environment(settings) == {
        "SHOPSYS_KAFKA_BOOTSTRAP_SERVERS": "a:9093",
        "SHOPSYS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "SHOPSYS_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "SHOPSYS_KAFKA_SASL_USERNAME": "web",
        "SHOPSYS_KAFKA_SASL_PASSWORD": "s3cret",
        "SHOPSYS_KAFKA_SSL_CA_LOCATION": "/ca.crt",
    }


def test_a_secured_clusters_super_users_keep_their_passwords_across_runs(tmp_path: Path) -> None:
    first = KafkaSecurity.create(tmp_path)
    again = KafkaSecurity.create(tmp_path)
    assert again.passwords == first.passwords
    assert (tmp_path / "super-users.json").stat().st_mode & 0o077 == 0
    properties = first.write_admin_properties(tmp_path / "admin.properties")
    assert properties.stat().st_mode & 0o077 == 0
    assert f'password="{first.passwords["admin"]}"' in properties.read_text()


def test_role_users_are_read_from_a_mounted_secret(tmp_path: Path) -> None:
    for role in ROLES:
        (tmp_path / f"{role}-username").write_text(f"{role}\n")
        (tmp_path / f"{role}-password").write_text(f"secret-{role}")
    users = read_role_users(tmp_path)
    assert users == {role: RoleUser(role, f"secret-{role}") for role in ROLES}
    (tmp_path / "keda-password").write_text("  \n")
    with pytest.raises(UsersFileError, match="keda-password is empty"):
        read_role_users(tmp_path)
