"""What production mode refuses (issue 14, findings 2 and 4), one rule at a time."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from services.core.config import IngestSettings, Settings
from services.core.http.serving import uvicorn_options


def _secret() -> SecretStr:
    return SecretStr(secrets.token_urlsafe(48))


def production(**overrides: Any) -> Settings:
    """A production configuration that passes, with ``overrides``."""
    values: dict[str, Any] = {
        "environment": "production",
        "kafka_security_protocol": "SASL_SSL",
        "kafka_password": _secret(),
        "clickhouse_password": _secret(),
        "clickhouse_host": "127.0.0.1",
        "pseudonym_secret": _secret(),
        "qr_secret": _secret(),
        "read_secret": _secret(),
        **overrides,
    }
    return IngestSettings(**values)


def refusal(**overrides: Any) -> str:
    with pytest.raises(ValidationError) as refused:
        production(**overrides)
    return str(refused.value)


def test_a_sound_production_configuration_is_accepted() -> None:
    assert production().environment == "production"


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SASL_PLAINTEXT"])
def test_plaintext_brokers_are_refused(protocol: str) -> None:
    assert "Kafka must be reached over TLS" in refusal(kafka_security_protocol=protocol)


def test_mutual_tls_needs_a_client_certificate_and_then_no_password(tmp_path: Path) -> None:
    assert "needs a client certificate" in refusal(kafka_security_protocol="SSL")
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    accepted = production(kafka_security_protocol="SSL", kafka_password=SecretStr(""),
                          kafka_cert_file=cert, kafka_key_file=key)
    assert accepted.kafka_cert_file == cert


def test_an_empty_clickhouse_password_is_refused() -> None:
    assert "TRUYVET_CLICKHOUSE_PASSWORD is shorter" in refusal(clickhouse_password=SecretStr(""))


def test_a_remote_clickhouse_without_tls_is_refused() -> None:
    assert "must be reached over TLS" in refusal(clickhouse_host="10.0.0.5")
    assert production(clickhouse_host="10.0.0.5", clickhouse_secure=True).clickhouse_secure


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "ingest.example"])
def test_a_bind_beyond_loopback_needs_tls_or_a_tls_proxy(host: str, tmp_path: Path) -> None:
    assert "without TLS" in refusal(ingest_host=host)
    assert "without TLS" in refusal(alerts_host=host)
    assert production(ingest_host=host, tls_terminated_by_proxy=True).ingest_host == host
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    served = production(alerts_host=host, tls_cert_file=cert, tls_key_file=key)
    options = uvicorn_options(served)
    assert (options["ssl_certfile"], options["ssl_keyfile"]) == (str(cert), str(key))


def test_a_certificate_without_its_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="go together"):
        Settings(tls_cert_file=tmp_path / "server.pem")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("dev-only-pseudonym", "shorter than 32"),
        ("x" * 32, "not random enough"),
        ("ab" * 32, "not random enough"),
        ("0123456789abcdef" * 4, "not random enough"),  # 16 symbols in turn: 256 bits at most
    ],
)
def test_short_or_regular_secrets_are_refused(value: str, reason: str) -> None:
    assert f"TRUYVET_PSEUDONYM_SECRET is {reason}" in refusal(pseudonym_secret=SecretStr(value))


def test_two_secrets_of_the_same_value_are_refused() -> None:
    shared = _secret()
    assert "TRUYVET_QR_SECRET is the same as TRUYVET_PSEUDONYM_SECRET" in refusal(
        pseudonym_secret=shared, qr_secret=shared
    )


def test_development_accepts_the_public_defaults() -> None:
    assert Settings().environment == "development"
