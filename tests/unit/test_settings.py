from __future__ import annotations

import pytest

from shopsys.settings import KafkaSettings, MongoSettings


def test_defaults_match_the_documented_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SHOPSYS_KAFKA_TOPIC", "SHOPSYS_KAFKA_CONSUMER_GROUP", "SHOPSYS_MONGODB_DATABASE"):
        monkeypatch.delenv(name, raising=False)
    kafka = KafkaSettings()
    assert (kafka.topic, kafka.dlq_topic, kafka.consumer_group) == (
        "purchases",
        "purchases.dlq",
        "shopsys-consumer",
    )
    assert kafka.topic_partitions == 12
    assert MongoSettings().database == "shopping"


def test_sasl_ssl_settings_reach_librdkafka(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPSYS_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("SHOPSYS_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("SHOPSYS_KAFKA_SASL_USERNAME", "shop")
    monkeypatch.setenv("SHOPSYS_KAFKA_SASL_PASSWORD", "s3cret")
    monkeypatch.setenv("SHOPSYS_KAFKA_SSL_CA_LOCATION", "/etc/kafka/ca.crt")
    config = KafkaSettings().client_config()
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.mechanism"] == "SCRAM-SHA-512"
    assert config["sasl.username"] == "shop"
    assert config["sasl.password"] == "s3cret"
    assert config["ssl.ca.location"] == "/etc/kafka/ca.crt"
    assert "s3cret" not in repr(KafkaSettings())


def test_plaintext_config_has_no_security_extras() -> None:
    config = KafkaSettings(bootstrap_servers="b:9092").client_config()
    assert not any(key.startswith(("sasl.", "ssl.")) for key in config)


def test_invalid_values_are_rejected_with_the_variable_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SHOPSYS_KAFKA_TOPIC_PARTITIONS", "0")
    with pytest.raises(ValueError, match="topic_partitions"):
        KafkaSettings()
