"""The local stack for real: topics, a message round trip, migrations, `truyvet status`."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.errors import KafkaTimeoutError
from pydantic import SecretStr

from services.core.config import TOPIC_NAMES, IngestSettings, Settings
from services.core.kafka_connection import kafka_options
from truyvet.stack import clickhouse, kafka
from truyvet.stack.credentials import ensure_secrets, with_local_secrets
from truyvet.stack.migrations import (
    MigrationError,
    applied_versions,
    apply_migrations,
    discover,
)
from truyvet.stack.processes import StackError
from truyvet.stack.topics import TOPIC_PARTITIONS, create_topics

REPO_ROOT = Path(__file__).resolve().parents[2]
DAY_MS = 24 * 3600 * 1000

pytestmark = pytest.mark.integration


def admin_for(settings: Settings) -> KafkaAdminClient:
    return KafkaAdminClient(**kafka_options(settings), request_timeout_ms=30_000)


# --- Kafka -----------------------------------------------------------------------------------


def test_topics_have_the_configured_partitions_and_policies(settings: Settings) -> None:
    admin = admin_for(settings)
    try:
        described = admin.describe_topics([settings.topic(name) for name in TOPIC_NAMES])
        configs = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, settings.topic(n)) for n in TOPIC_NAMES]
        )["topic"]
    finally:
        admin.close()

    partitions = {topic["name"]: len(topic["partitions"]) for topic in described}
    assert partitions == {settings.topic(name): TOPIC_PARTITIONS[name] for name in TOPIC_NAMES}
    assert TOPIC_PARTITIONS["scans"] == 8 and TOPIC_PARTITIONS["cases"] == 4

    def value(name: str, key: str) -> str:
        return str(configs[settings.topic(name)][key]["value"])

    assert value("registry", "cleanup.policy") == "compact"
    assert value("scans", "cleanup.policy") == "delete"
    assert value("scans", "retention.ms") == str(settings.retention_days * DAY_MS)
    assert value("contacts", "retention.ms") == str(settings.retention_days * DAY_MS)
    # Rule 10's audit period bounds cases, alerts and the audit log.
    for name in ("cases", "alerts", "audit"):
        assert value(name, "retention.ms") == str(settings.audit_retention_days * DAY_MS)
    assert int(value("dead-letter", "retention.ms")) > settings.retention_days * DAY_MS


def test_creating_topics_again_creates_nothing(settings: Settings) -> None:
    assert create_topics(settings) == []


def test_a_produced_message_is_consumed_back(settings: Settings) -> None:
    topic = settings.topic("scans")
    key, value = b"venue-1", json.dumps({"hello": uuid.uuid4().hex}).encode()
    producer = KafkaProducer(
        **kafka_options(settings), acks="all", enable_idempotence=True
    )
    try:
        sent = producer.send(topic, key=key, value=value).get(timeout=30)
    finally:
        producer.close(timeout=10)

    consumer = KafkaConsumer(**kafka_options(settings), enable_auto_commit=False)
    try:
        partition = TopicPartition(topic, sent.partition)
        consumer.assign([partition])
        consumer.seek(partition, sent.offset)
        received = []
        deadline = time.monotonic() + 30
        while not received and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                received.extend(records)
    finally:
        consumer.close()
    assert received, f"nothing read back from {topic}[{sent.partition}]@{sent.offset}"
    assert (received[0].key, received[0].value) == (key, value)


def test_the_broker_does_not_create_topics_on_first_use(settings: Settings) -> None:
    producer = KafkaProducer(**kafka_options(settings), max_block_ms=3000)
    try:
        with pytest.raises(KafkaTimeoutError):
            producer.send(f"{settings.topic_prefix}no-such-topic", b"x").get(timeout=10)
    finally:
        producer.close(timeout=5)


def test_starting_a_running_broker_leaves_it_alone(stack: Settings) -> None:
    pid = kafka.process(stack).pid()
    assert pid is not None
    assert kafka.start(stack) == (pid, False)


def test_a_port_taken_by_another_process_is_named_in_the_error(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        settings = Settings(state_dir=tmp_path, kafka_bootstrap=f"127.0.0.1:{port}")
        with pytest.raises(StackError, match=f"127.0.0.1:{port} is already in use"):
            kafka.start(settings)


# --- ClickHouse ------------------------------------------------------------------------------


def test_clickhouse_answers_and_the_migrations_are_recorded_once(settings: Settings) -> None:
    client = clickhouse.connect(settings, database=settings.clickhouse_database)
    try:
        assert client.execute("SELECT 1") == [(1,)]
        recorded = client.execute("SELECT name FROM schema_migrations ORDER BY version")
    finally:
        client.disconnect()
    assert [name for (name,) in recorded] == [m.name for m in discover()]
    assert apply_migrations(settings) == []


def test_migrations_run_in_order_once_and_refuse_an_edited_file(
    stack: Settings, tmp_path: Path
) -> None:
    settings = stack.model_copy(update={"clickhouse_database": f"mig_{uuid.uuid4().hex[:12]}"})
    (tmp_path / "0002_fill.sql").write_text(
        "-- runs after 0001 (file order is version order)\n"
        "INSERT INTO items (id, label)\nSELECT 1, 'one';\n"
        "INSERT INTO items (id, label) SELECT 2, 'two';\n"
    )
    (tmp_path / "0001_items.sql").write_text(
        "CREATE TABLE IF NOT EXISTS items (\n  id UInt32,\n  label String\n)\n"
        "ENGINE = MergeTree() ORDER BY id;\n"
    )
    try:
        assert apply_migrations(settings, directory=tmp_path) == ["0001_items", "0002_fill"]
        assert apply_migrations(settings, directory=tmp_path) == []
        assert set(applied_versions(settings)) == {"0001", "0002"}
        client = clickhouse.connect(settings, database=settings.clickhouse_database)
        try:
            assert client.execute("SELECT id, label FROM items ORDER BY id") == [
                (1, "one"),
                (2, "two"),
            ]
        finally:
            client.disconnect()

        (tmp_path / "0002_fill.sql").write_text("INSERT INTO items (id, label) SELECT 3, 'x';\n")
        with pytest.raises(MigrationError, match="changed after it was applied"):
            apply_migrations(settings, directory=tmp_path)

        (tmp_path / "0002_fill.sql").unlink()
        (tmp_path / "0003_inline.sql").write_text("INSERT INTO items VALUES (4, 'four');\n")
        with pytest.raises(MigrationError, match="INSERT INTO … SELECT"):
            apply_migrations(settings, directory=tmp_path)
    finally:
        client = clickhouse.connect(settings)
        client.execute(f"DROP DATABASE IF EXISTS {settings.clickhouse_database}")
        client.disconnect()


# --- the CLI against the test stack ----------------------------------------------------------


def test_status_json_says_kafka_and_clickhouse_are_healthy(stack: Settings) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUYVET_")}
    env.update(stack.as_env())
    done = subprocess.run(
        [sys.executable, "-m", "truyvet.cli", "status", "--json",
         "--part", "kafka", "--part", "clickhouse"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["healthy"] is True
    parts = {part["name"]: part for part in report["parts"]}
    assert set(parts) == {"kafka", "clickhouse"}
    for part in parts.values():
        assert part["state"] == "running" and part["healthy"] is True
        assert isinstance(part["pid"], int)
    assert parts["kafka"]["address"] == stack.kafka_bootstrap
    assert parts["clickhouse"]["address"] == f"127.0.0.1:{stack.clickhouse_port}"


# --- secrets (no servers needed) -------------------------------------------------------------


def test_secrets_are_generated_once_private_and_reused(tmp_path: Path) -> None:
    settings = IngestSettings(state_dir=tmp_path)
    first = ensure_secrets(settings)
    secrets_file = tmp_path / "secrets.env"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert ensure_secrets(settings) == first
    assert all(len(value) >= 64 for value in first.values())

    loaded = with_local_secrets(settings)
    assert loaded.pseudonym_secret.get_secret_value() == first["pseudonym_secret"]
    assert loaded.qr_secret.get_secret_value() == first["qr_secret"]

    explicit = IngestSettings(state_dir=tmp_path, qr_secret=SecretStr("q" * 40))
    assert with_local_secrets(explicit).qr_secret.get_secret_value() == "q" * 40
