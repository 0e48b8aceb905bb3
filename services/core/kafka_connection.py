"""How every Kafka client of truyvet reaches and authenticates to the brokers.

aiokafka and kafka-python take the same option names, so one dictionary configures the
services' async clients, the CLI's and the tests' blocking ones and both admin clients alike:
``AIOKafkaProducer(**kafka_options(settings), acks="all")``.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from services.core.config import Settings


def kafka_options(settings: Settings) -> dict[str, Any]:
    """``bootstrap_servers`` and the security options of ``settings`` for any Kafka client."""
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": protocol,
    }
    if protocol.startswith("SASL_"):
        options.update(
            sasl_mechanism=settings.kafka_sasl_mechanism,
            sasl_plain_username=settings.kafka_username,
            sasl_plain_password=settings.kafka_password.get_secret_value(),
        )
    if protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = tls_context(
            settings.kafka_ca_file, settings.kafka_cert_file, settings.kafka_key_file
        )
    return options


def tls_context(
    ca_file: Path | None, cert_file: Path | None = None, key_file: Path | None = None
) -> ssl.SSLContext:
    """A client TLS context that verifies the server (against ``ca_file`` or the system's trust
    store) and presents ``cert_file``/``key_file`` when given (mutual TLS)."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_file is not None:
        context.load_cert_chain(str(cert_file), str(key_file) if key_file else None)
    return context


def java_client_properties(settings: Settings) -> dict[str, str]:
    """The same options as Java client properties (for Kafka's own command-line tools)."""
    protocol = settings.kafka_security_protocol
    properties: dict[str, str] = {"security.protocol": protocol}
    if protocol.startswith("SASL_"):
        properties["sasl.mechanism"] = settings.kafka_sasl_mechanism
        properties["sasl.jaas.config"] = scram_jaas(
            settings.kafka_username, settings.kafka_password.get_secret_value()
        )
    if protocol in ("SSL", "SASL_SSL") and settings.kafka_ca_file is not None:
        properties["ssl.truststore.type"] = "PEM"
        properties["ssl.truststore.location"] = str(settings.kafka_ca_file)
    return properties


def scram_jaas(username: str, password: str) -> str:
    """A JAAS line for SCRAM login (the ``sasl.jaas.config`` of a Java client or listener)."""
    for value in (username, password):
        if '"' in value or "\\" in value or "\n" in value:
            raise ValueError("Kafka user names and passwords must not contain quotes, "
                             "backslashes or line breaks")
    return (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{username}" password="{password}";'
    )
