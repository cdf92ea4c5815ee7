"""Endpoints and credentials, read from ``AQUA_*`` environment variables.

Sections are joined to field names with ``__``: ``AQUA_POSTGRES__HOST``, ``AQUA_REDIS__PASSWORD``,
``AQUA_KAFKA__BOOTSTRAP_SERVERS``. Each field below documents its variable.

Defaults point at the local stack that ``infra/stack.py`` (or ``infra/docker-compose.yml``) starts
on loopback. With ``AQUA_ENV=production`` no endpoint or credential has a default, so a deployment
that forgot one fails at start with a list of every missing variable instead of quietly talking to
127.0.0.1.

Read settings once, in a job's ``main()``, with :func:`load_settings`.
"""

from __future__ import annotations

import os
from typing import Literal
from urllib.parse import quote

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from aquafs.errors import ConfigError

ENV_PREFIX = "AQUA_"
ENV_NESTED_DELIMITER = "__"

# The local stack's ports, shared with infra/stack.py and infra/docker-compose.yml.
LOCAL_POSTGRES_PORT = 55432
LOCAL_REDIS_PORT = 56379
LOCAL_KAFKA_BOOTSTRAP = "127.0.0.1:59092"

# Variables that must be set explicitly when AQUA_ENV=production.
PRODUCTION_REQUIRED = (
    "AQUA_POSTGRES__HOST",
    "AQUA_POSTGRES__USER",
    "AQUA_POSTGRES__PASSWORD",
    "AQUA_POSTGRES__DATABASE",
    "AQUA_REDIS__HOST",
    "AQUA_KAFKA__BOOTSTRAP_SERVERS",
)

SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
KafkaSecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
KafkaSaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class PostgresSettings(BaseModel):
    host: str = "127.0.0.1"
    """AQUA_POSTGRES__HOST: server host name or address."""
    port: int = Field(LOCAL_POSTGRES_PORT, ge=1, le=65535)
    """AQUA_POSTGRES__PORT: server port."""
    user: str = "aqua"
    """AQUA_POSTGRES__USER: login role that owns the project's tables."""
    password: SecretStr = SecretStr("aqua-local-only")
    """AQUA_POSTGRES__PASSWORD: password of that role. The default is for the local stack only."""
    database: str = "aquafs"
    """AQUA_POSTGRES__DATABASE: database holding the offline store and the Feast registry."""
    db_schema: str = Field("public", alias="schema")
    """AQUA_POSTGRES__SCHEMA: schema of the offline-store tables."""
    sslmode: SslMode = "disable"
    """AQUA_POSTGRES__SSLMODE: libpq sslmode; use verify-full against a remote server."""
    sslrootcert: str | None = None
    """AQUA_POSTGRES__SSLROOTCERT: CA bundle path for verify-ca and verify-full."""
    timescaledb: Literal["off", "auto", "on"] = "auto"
    """AQUA_POSTGRES__TIMESCALEDB: schema variant of the migrations. ``auto`` uses TimescaleDB when the
    server offers the extension and plain PostgreSQL otherwise, ``on`` requires it, ``off`` never uses it."""

    model_config = {"populate_by_name": True}

    def conninfo(self) -> str:
        """Return a libpq connection string that includes the password."""
        parts = {
            "host": self.host,
            "port": str(self.port),
            "user": self.user,
            "password": self.password.get_secret_value(),
            "dbname": self.database,
            "sslmode": self.sslmode,
            "options": "-c timezone=UTC",
            "application_name": "aquafs",
        }
        if self.sslrootcert:
            parts["sslrootcert"] = self.sslrootcert
        return " ".join(f"{key}={_libpq_quote(value)}" for key, value in parts.items())

    def sqlalchemy_url(self) -> str:
        """Return the URL form that Feast's SQL registry takes (psycopg 3 driver)."""
        user = quote(self.user, safe="")
        password = quote(self.password.get_secret_value(), safe="")
        return (
            f"postgresql+psycopg://{user}:{password}@{self.host}:{self.port}/"
            f"{quote(self.database, safe='')}?sslmode={self.sslmode}"
        )


class RedisSettings(BaseModel):
    host: str = "127.0.0.1"
    """AQUA_REDIS__HOST: server host name or address."""
    port: int = Field(LOCAL_REDIS_PORT, ge=1, le=65535)
    """AQUA_REDIS__PORT: server port."""
    username: str | None = None
    """AQUA_REDIS__USERNAME: ACL user (Redis 6+); leave unset for the default user."""
    password: SecretStr | None = None
    """AQUA_REDIS__PASSWORD: password of the ACL user, or the requirepass password."""
    tls: bool = False
    """AQUA_REDIS__TLS: connect with TLS (true/false)."""
    db: int = Field(0, ge=0)
    """AQUA_REDIS__DB: logical database number."""

    def feast_connection_string(self) -> str:
        """Return Feast's Redis connection string (``host:port,ssl=...,password=...``)."""
        parts = [f"{self.host}:{self.port}", f"db={self.db}"]
        if self.tls:
            parts.append("ssl=true")
        if self.username:
            parts.append(f"username={self.username}")
        if self.password is not None:
            parts.append(f"password={self.password.get_secret_value()}")
        return ",".join(parts)


class KafkaSettings(BaseModel):
    bootstrap_servers: str = LOCAL_KAFKA_BOOTSTRAP
    """AQUA_KAFKA__BOOTSTRAP_SERVERS: comma-separated host:port list."""
    security_protocol: KafkaSecurityProtocol = "PLAINTEXT"
    """AQUA_KAFKA__SECURITY_PROTOCOL: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."""
    sasl_mechanism: KafkaSaslMechanism | None = None
    """AQUA_KAFKA__SASL_MECHANISM: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (with SASL_*)."""
    sasl_username: str | None = None
    """AQUA_KAFKA__SASL_USERNAME: SASL user."""
    sasl_password: SecretStr | None = None
    """AQUA_KAFKA__SASL_PASSWORD: SASL password."""
    ssl_cafile: str | None = None
    """AQUA_KAFKA__SSL_CAFILE: CA bundle path for SSL and SASL_SSL."""
    readings_topic: str = "aqua.readings.v1"
    """AQUA_KAFKA__READINGS_TOPIC: topic of raw sensor readings."""
    dead_letter_topic: str = "aqua.readings.dlq"
    """AQUA_KAFKA__DEAD_LETTER_TOPIC: topic of rejected messages, with the reason in headers."""
    consumer_group: str = "aqua-ingester"
    """AQUA_KAFKA__CONSUMER_GROUP: consumer group of the ingesters."""

    def client_options(self) -> dict[str, object]:
        """Return the keyword arguments that every kafka-python client needs."""
        options: dict[str, object] = {
            "bootstrap_servers": [server.strip() for server in self.bootstrap_servers.split(",")],
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol.startswith("SASL"):
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = (
                self.sasl_password.get_secret_value() if self.sasl_password else None
            )
        if self.ssl_cafile:
            options["ssl_cafile"] = self.ssl_cafile
        return options

    @field_validator("bootstrap_servers")
    @classmethod
    def _check_bootstrap_servers(cls, value: str) -> str:
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port...], for example {LOCAL_KAFKA_BOOTSTRAP}")
        return value


class Settings(BaseSettings):
    env: Literal["local", "production"] = "local"
    """AQUA_ENV: ``local`` allows the local-stack defaults; ``production`` requires explicit endpoints."""
    postgres: PostgresSettings = PostgresSettings()
    redis: RedisSettings = RedisSettings()
    kafka: KafkaSettings = KafkaSettings()
    log_format: Literal["text", "json"] = "text"
    """AQUA_LOG_FORMAT: ``text`` for terminals, ``json`` for deployed jobs."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """AQUA_LOG_LEVEL: level of the project's loggers."""
    data_dir: str | None = None
    """AQUA_DATA_DIR: folder of the CSV history that ``aquafs load`` reads; unset means
    ``../shared/data`` next to the repository."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        case_sensitive=False,
        extra="ignore",
    )

    def feast_environment(self) -> dict[str, str]:
        """Return the variables that ``feature_repo/feature_store.yaml`` expands."""
        return {
            "AQUA_FEAST_REGISTRY_URL": self.postgres.sqlalchemy_url(),
            "AQUA_POSTGRES__HOST": self.postgres.host,
            "AQUA_POSTGRES__PORT": str(self.postgres.port),
            "AQUA_POSTGRES__USER": self.postgres.user,
            "AQUA_POSTGRES__PASSWORD": self.postgres.password.get_secret_value(),
            "AQUA_POSTGRES__DATABASE": self.postgres.database,
            "AQUA_POSTGRES__SCHEMA": self.postgres.db_schema,
            "AQUA_POSTGRES__SSLMODE": self.postgres.sslmode,
            "AQUA_REDIS_CONNECTION_STRING": self.redis.feast_connection_string(),
        }


def load_settings() -> Settings:
    """Build settings from the environment, raising one :class:`ConfigError` for every problem.

    Raises:
        ConfigError: lists each missing or invalid variable with what it expects; values are
            never included because they may be secrets.
    """
    problems: list[str] = []
    if os.environ.get("AQUA_ENV", "local").lower() == "production":
        for name in PRODUCTION_REQUIRED:
            if not os.environ.get(name):
                problems.append(f"{name} is missing (required when AQUA_ENV=production)")

    settings: Settings | None = None
    try:
        settings = Settings()
    except ValidationError as error:
        for item in error.errors():
            problems.append(f"{_env_name(item['loc'])} is invalid: {item['msg']}")
    if problems or settings is None:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return settings


def _env_name(location: tuple[object, ...]) -> str:
    return ENV_PREFIX + ENV_NESTED_DELIMITER.join(str(part).upper() for part in location)


def _libpq_quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"
