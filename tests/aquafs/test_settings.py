"""Settings: defaults for the local stack, one error listing every problem, no secrets in messages."""

from __future__ import annotations

import pytest

from aquafs.errors import ConfigError
from aquafs.settings import load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("AQUA_"):
            monkeypatch.delenv(name)


def test_local_defaults_point_at_the_stack() -> None:
    settings = load_settings()

    assert (settings.postgres.host, settings.postgres.port) == ("127.0.0.1", 55432)
    assert settings.postgres.sslmode == "disable"
    assert settings.redis.feast_connection_string() == "127.0.0.1:56379,db=0"
    assert settings.kafka.client_options()["bootstrap_servers"] == ["127.0.0.1:59092"]


def test_production_requires_every_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AQUA_ENV", "production")
    monkeypatch.setenv("AQUA_POSTGRES__HOST", "db.internal")

    with pytest.raises(ConfigError) as caught:
        load_settings()

    message = str(caught.value)
    assert "AQUA_POSTGRES__HOST" not in message
    for name in ("AQUA_POSTGRES__PASSWORD", "AQUA_REDIS__HOST", "AQUA_KAFKA__BOOTSTRAP_SERVERS"):
        assert f"{name} is missing" in message


def test_invalid_values_are_all_reported_without_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AQUA_POSTGRES__PORT", "not-a-port")
    monkeypatch.setenv("AQUA_POSTGRES__SSLMODE", "sometimes")
    monkeypatch.setenv("AQUA_KAFKA__BOOTSTRAP_SERVERS", "broker-without-port")
    monkeypatch.setenv("AQUA_POSTGRES__PASSWORD", "s3cret-value")

    with pytest.raises(ConfigError) as caught:
        load_settings()

    message = str(caught.value)
    assert "AQUA_POSTGRES__PORT is invalid" in message
    assert "AQUA_POSTGRES__SSLMODE is invalid" in message
    assert "AQUA_KAFKA__BOOTSTRAP_SERVERS is invalid" in message
    assert "s3cret-value" not in message


def test_production_settings_reach_tls_and_sasl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AQUA_REDIS__TLS", "true")
    monkeypatch.setenv("AQUA_REDIS__USERNAME", "feast")
    monkeypatch.setenv("AQUA_REDIS__PASSWORD", "pw")
    monkeypatch.setenv("AQUA_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("AQUA_KAFKA__SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("AQUA_KAFKA__SASL_USERNAME", "ingester")
    monkeypatch.setenv("AQUA_KAFKA__SASL_PASSWORD", "pw2")
    monkeypatch.setenv("AQUA_POSTGRES__SSLMODE", "verify-full")

    settings = load_settings()

    assert settings.redis.feast_connection_string() == "127.0.0.1:56379,db=0,ssl=true,username=feast,password=pw"
    options = settings.kafka.client_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_password"] == "pw2"
    assert "sslmode='verify-full'" in settings.postgres.conninfo()
    assert "pw2" not in repr(settings)
