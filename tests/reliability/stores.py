"""What the reliability tests read back: duplicates in query results, consumer-group progress,
and every topic and table of one isolated deployment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient

from services.core.clickhouse import clickhouse_client
from services.core.config import Settings
from services.core.kafka_connection import kafka_options
from services.tracer.domain.model import Contact, Scan, VenueRules
from tests.reference.tracing import reference_contacts, reference_visits
from tests.reliability.city import as_seen_downstream
from tests.reliability.waits import wait_while_running
from tests.support.kafka_read import Record, read_topic
from tests.support.pipeline import AlertKey, fold_alerts
from tests.support.processes import ServiceProcess
from tests.support.scan_topic import fold_contacts, stored_contacts, stored_visits

# Table -> the id that must be unique among its live rows (what `FINAL` queries return).
_UNIQUE_IDS = {
    "scans": ("event_id", ""),
    "visits": ("visit_id", "WHERE deleted = 0"),
    "visits_by_person": ("visit_id", "WHERE deleted = 0"),
    "contacts": ("contact_id", "WHERE deleted = 0"),
    "alerts": ("alert_id", "WHERE deleted = 0"),
    "cases": ("case_id", ""),
}


def duplicated_rows(settings: Settings) -> dict[str, tuple[int, int]]:
    """``{table: (rows, distinct ids)}`` for every table whose live rows repeat an id.

    Compares ``SELECT count() … FINAL`` with ``uniqExact(id)``: what a dashboard counting rows
    would get wrong if a replay had written a fact twice under different sorting keys.
    """
    client = clickhouse_client(settings)
    try:
        found = {}
        for table, (key, where) in _UNIQUE_IDS.items():
            (rows, distinct), = client.execute(
                f"SELECT count(), uniqExact({key}) FROM (SELECT * FROM {table} FINAL) {where}"
            )
            if rows != distinct:
                found[table] = (int(rows), int(distinct))
        return found
    finally:
        client.disconnect()


def count_rows(settings: Settings, query: str) -> int:
    client = clickhouse_client(settings)
    try:
        return int(client.execute(query)[0][0])
    finally:
        client.disconnect()


def stored_event_ids(settings: Settings) -> set[str]:
    client = clickhouse_client(settings)
    try:
        return {row[0] for row in client.execute("SELECT DISTINCT event_id FROM scans")}
    finally:
        client.disconnect()


def committed_offsets(settings: Settings, group: str, topic: str) -> dict[int, int]:
    """The group's committed offset of every partition of ``topic`` (0: never committed)."""
    admin = KafkaAdminClient(**kafka_options(settings), request_timeout_ms=10_000)
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    finally:
        admin.close()
    committed = {tp.partition: meta.offset for tp, meta in offsets.items()
                 if tp.topic == topic and meta.offset >= 0}
    return {p: committed.get(p, 0) for p in end_offsets(settings, topic)}


def end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(**kafka_options(settings))
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        ends = consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        return {tp.partition: offset for tp, offset in ends.items()}
    finally:
        consumer.close()


def deployment_topics(settings: Settings) -> list[str]:
    """Every topic of this deployment: the pipeline's and the workers' internal ones."""
    admin = KafkaAdminClient(**kafka_options(settings), request_timeout_ms=10_000)
    try:
        return sorted(t for t in admin.list_topics() if t.startswith(settings.topic_prefix))
    finally:
        admin.close()


def table_dumps(settings: Settings) -> Iterator[tuple[str, str]]:
    """``(table, every row as text)`` for each table of the deployment's database."""
    client = clickhouse_client(settings)
    try:
        tables = [row[0] for row in client.execute("SHOW TABLES")]
        for table in tables:
            rows = client.execute(f"SELECT * FROM {table}")
            yield table, "\n".join(repr(row) for row in rows)
    finally:
        client.disconnect()


def read_records(settings: Settings, topic: str, timeout_s: float = 120.0) -> list[Record]:
    """Every record of ``topic`` up to its current end, in partition then offset order."""
    return read_topic(settings, topic, timeout_s=timeout_s)


def folded_contacts(settings: Settings) -> set[Contact]:
    """The ``contacts`` topic folded in partition order: upserts add, retractions remove."""
    return fold_contacts(read_records(settings, settings.topic("contacts")))


def folded_alerts(settings: Settings) -> dict[str, set[AlertKey]]:
    """The ``alerts`` topic folded in order (upserts replace, retractions remove), by case."""
    return fold_alerts(read_records(settings, settings.topic("alerts")))


def contacts_read(worker_state_dir: Path) -> dict[int, int]:
    """How far an alerts worker has applied each ``contacts`` partition, as its heartbeat file
    (written every 5 s) says: the worker reads contacts outside any group, so nothing commits."""
    try:
        beat = (worker_state_dir / "run" / "alerts-worker.heartbeat").read_text().split()
    except FileNotFoundError:
        return {}
    read = next((field.removeprefix("contacts=") for field in beat
                 if field.startswith("contacts=")), "")
    return {int(p): int(o) for p, _, o in (item.partition(":") for item in read.split(",") if item)}


def wait_for_the_reference_stores(settings: Settings, scans: list[Scan], tracer: ServiceProcess,
                                  ingest: ServiceProcess, after: str) -> None:
    """Wait until ClickHouse holds every one of ``scans`` and exactly the visits and contacts
    the reference derives from them (default rules), once each; ``after`` names the fault."""
    everything = {s.event_id for s in scans}
    seen = as_seen_downstream(settings, scans)
    visits = reference_visits(seen, lambda venue: VenueRules())
    contacts = reference_contacts(seen, lambda venue: VenueRules())

    def settled() -> bool:
        return (stored_event_ids(settings) == everything
                and stored_visits(settings) == visits
                and stored_contacts(settings) == contacts)

    try:
        wait_while_running(settled, 180, "every acknowledged scan in ClickHouse", [tracer],
                           every_s=1.0)
    except AssertionError:
        missing = everything - stored_event_ids(settings)
        raise AssertionError(
            f"{len(missing)} acknowledged scans missing from ClickHouse after {after}\n"
            f"--- tracer ---\n{tracer.log_tail()}\n--- ingest ---\n{ingest.log_tail()}"
        ) from None
    assert duplicated_rows(settings) == {}
