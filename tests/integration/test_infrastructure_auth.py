"""Kafka and ClickHouse of the local stack take only their own users (issue 14, finding 2).

The test stack runs as a deployment must: Kafka's client listener with SCRAM, ClickHouse
with a password user and no passwordless ``default``. Each test shows the stack's own
credentials let a client in and a client without them (or with a wrong password) refused.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from clickhouse_driver import Client
from clickhouse_driver.errors import ServerException
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

from services.core.config import Settings
from services.core.kafka_connection import kafka_options
from truyvet.stack import clickhouse

# ClickHouse 18.16's codes; current releases answer all three with 516 AUTHENTICATION_FAILED.
UNKNOWN_USER, WRONG_PASSWORD, PASSWORD_REQUIRED = 192, 193, 194


def _topics(**options: Any) -> set[str]:
    admin = KafkaAdminClient(**options, request_timeout_ms=2000, bootstrap_timeout_ms=2000)
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


def test_kafka_refuses_a_client_without_its_scram_login(settings: Settings) -> None:
    assert settings.topic("registry") in _topics(**kafka_options(settings))
    with pytest.raises(KafkaError):
        _topics(bootstrap_servers=settings.kafka_bootstrap)  # plaintext, no login
    wrong = {**kafka_options(settings), "sasl_plain_password": "not-the-password"}
    with pytest.raises(KafkaError):
        _topics(**wrong)


def test_clickhouse_has_no_passwordless_user(stack: Settings) -> None:
    client = clickhouse.connect(stack)
    try:
        assert client.execute("SELECT 1") == [(1,)]
    finally:
        client.disconnect()
    for user, password, code in (("default", "", UNKNOWN_USER),
                                 (stack.clickhouse_user, "", PASSWORD_REQUIRED),
                                 (stack.clickhouse_user, "not-the-password", WRONG_PASSWORD)):
        anonymous = Client(host=stack.clickhouse_host, port=stack.clickhouse_port,
                           user=user, password=password, connect_timeout=3)
        with pytest.raises(ServerException) as refused:
            anonymous.execute("SELECT 1")
        assert refused.value.code == code
        anonymous.disconnect()


def test_clickhouse_http_refuses_a_cross_origin_post_without_credentials(stack: Settings) -> None:
    # What a web page can make a browser send: a simple text/plain POST, no credentials.
    response = httpx.post(f"http://{stack.clickhouse_host}:{stack.clickhouse_http_port}/",
                          content="SELECT 1", headers={"Content-Type": "text/plain",
                                                       "Origin": "https://attacker.example"})
    assert response.status_code in (401, 403, 516)
    assert "Unknown user default" in response.text
