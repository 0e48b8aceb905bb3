"""One set of Kafka client options, for SCRAM and for (mutual) TLS."""

from __future__ import annotations

import ssl
from pathlib import Path

from pydantic import SecretStr

from services.core.clickhouse import connection_options
from services.core.config import Settings
from services.core.kafka_connection import java_client_properties, kafka_options


def test_scram_over_sasl_is_the_default_login() -> None:
    options = kafka_options(Settings(kafka_password=SecretStr("pw")))
    assert options == {
        "bootstrap_servers": "127.0.0.1:9092", "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "truyvet",
        "sasl_plain_password": "pw",
    }


def test_tls_verifies_the_broker_and_mutual_tls_presents_no_password() -> None:
    options = kafka_options(Settings(kafka_security_protocol="SSL"))
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert "sasl_plain_password" not in options
    assert "sasl_mechanism" in kafka_options(Settings(kafka_security_protocol="SASL_SSL"))


def test_java_tools_get_the_same_login(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    properties = java_client_properties(
        Settings(kafka_security_protocol="SASL_SSL", kafka_password=SecretStr("pw"),
                 kafka_ca_file=ca)
    )
    assert properties["sasl.mechanism"] == "SCRAM-SHA-512"
    assert 'username="truyvet" password="pw";' in properties["sasl.jaas.config"]
    assert properties["ssl.truststore.location"] == str(ca)


def test_clickhouse_clients_log_in_and_verify_tls(tmp_path: Path) -> None:
    plain = connection_options(Settings(clickhouse_password=SecretStr("pw")))
    assert (plain["user"], plain["password"]) == ("truyvet", "pw") and "secure" not in plain
    secure = connection_options(Settings(clickhouse_secure=True, clickhouse_ca_file=tmp_path))
    assert secure["secure"] and secure["verify"] and secure["ca_certs"] == str(tmp_path)


def test_unset_files_are_not_passed_on_as_text() -> None:
    env = Settings().as_env()
    assert "TRUYVET_KAFKA_CA_FILE" not in env
    assert Settings(**{k[8:].lower(): v for k, v in env.items()}).kafka_ca_file is None
