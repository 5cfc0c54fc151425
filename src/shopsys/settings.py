"""Typed configuration: one pydantic-settings class per concern, all under ``SHOPSYS_``.

Every field here is documented in the README's configuration table; CLI flags override
the environment by passing explicit keyword arguments to these classes.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
OffsetReset = Literal["earliest", "latest"]


class KafkaSettings(BaseSettings):
    """Where the purchase events go, and how to authenticate to the cluster."""

    model_config = SettingsConfigDict(env_prefix="SHOPSYS_KAFKA_", extra="ignore")

    bootstrap_servers: str = "localhost:9092"
    topic: str = "purchases"
    dlq_topic: str = "purchases.dlq"
    consumer_group: str = "shopsys-consumer"
    topic_partitions: int = Field(12, ge=1, le=10_000)
    topic_replication_factor: int = Field(1, ge=1, le=10)
    topic_min_insync_replicas: int = Field(1, ge=1, le=10)
    auto_offset_reset: OffsetReset = "earliest"
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_ca_location: str | None = None
    ssl_certificate_location: str | None = None
    ssl_key_location: str | None = None
    client_id: str = "shopsys"

    @model_validator(mode="after")
    def _min_insync_within_the_replicas(self) -> KafkaSettings:
        if self.topic_min_insync_replicas > self.topic_replication_factor:
            raise ValueError(
                "topic_min_insync_replicas must not exceed topic_replication_factor: no write"
                " with acks=all could ever succeed"
            )
        return self

    def client_config(self) -> dict[str, Any]:
        """The librdkafka properties shared by producer, consumer and admin client."""
        config: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "client.id": self.client_id,
            "security.protocol": self.security_protocol,
        }
        if self.sasl_mechanism is not None:
            config["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username is not None:
            config["sasl.username"] = self.sasl_username
        if self.sasl_password is not None:
            config["sasl.password"] = self.sasl_password.get_secret_value()
        optional = {
            "ssl.ca.location": self.ssl_ca_location,
            "ssl.certificate.location": self.ssl_certificate_location,
            "ssl.key.location": self.ssl_key_location,
        }
        config.update({key: value for key, value in optional.items() if value is not None})
        return config


class MongoSettings(BaseSettings):
    """The MongoDB deployment that holds purchases and the catalog."""

    model_config = SettingsConfigDict(env_prefix="SHOPSYS_MONGODB_", extra="ignore")

    uri: SecretStr = SecretStr("mongodb://localhost:27017")
    database: str = "shopping"
    timeout_ms: int = Field(5_000, ge=100)


class WebSettings(BaseSettings):
    """The public storefront role, ``serve-web``."""

    model_config = SettingsConfigDict(env_prefix="SHOPSYS_WEB_", extra="ignore")

    host: str = "0.0.0.0"
    port: int = Field(8000, ge=1, le=65_535)
    publish_timeout_seconds: float = Field(5.0, gt=0, le=120)
    max_body_bytes: int = Field(16_384, ge=256)
    catalog_cache_seconds: float = Field(10.0, ge=0)
    shutdown_grace_seconds: float = Field(3.0, ge=0, le=60)


class ManagementSettings(BaseSettings):
    """The internal management API: served by ``serve-consumer``, called by ``serve-web``."""

    model_config = SettingsConfigDict(env_prefix="SHOPSYS_MANAGEMENT_", extra="ignore")

    host: str = "0.0.0.0"
    port: int = Field(8080, ge=1, le=65_535)
    api_url: str = "http://localhost:8080"
    token: SecretStr | None = None
    request_timeout_seconds: float = Field(5.0, gt=0)  # web's wait for an answer
    read_timeout_seconds: float = Field(3.0, gt=0)  # the API's deadline on a database read

    @model_validator(mode="after")
    def _reads_end_before_their_callers(self) -> ManagementSettings:
        if self.read_timeout_seconds >= self.request_timeout_seconds:
            raise ValueError(
                "read_timeout_seconds must be below request_timeout_seconds: a read must end"
                " (with an error) before the web role stops waiting for it"
            )
        return self


class ConsumerSettings(BaseSettings):
    """The consumer loop of ``serve-consumer``."""

    model_config = SettingsConfigDict(env_prefix="SHOPSYS_CONSUMER_", extra="ignore")

    batch_size: int = Field(500, ge=1, le=100_000)
    batch_wait_ms: int = Field(200, ge=1, le=60_000)
    shutdown_timeout_seconds: float = Field(20.0, gt=0, le=600)
    retry_backoff_max_seconds: float = Field(10.0, gt=0)
    park_seconds: float = Field(30.0, gt=0, le=3_600)


class OpsSettings(BaseSettings):
    """The live operations page of the management API (``/operations``)."""

    model_config = SettingsConfigDict(env_prefix="SHOPSYS_OPS_", extra="ignore")

    cache_seconds: float = Field(1.0, ge=0, le=60)
    kafka_timeout_seconds: float = Field(4.0, gt=0, le=60)
    web_deployment: str | None = None
    consumer_deployment: str | None = None


class LogSettings(BaseSettings):
    """Logging for both roles."""

    model_config = SettingsConfigDict(env_prefix="SHOPSYS_LOG_", extra="ignore")

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "text"] = "json"
