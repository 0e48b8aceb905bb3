"""Producing scans and reading derived facts back, for pipeline tests."""

from __future__ import annotations

from collections.abc import Iterable

from kafka import KafkaProducer

from schemas.common import Op
from schemas.derived import ContactBatch
from schemas.scans import ScanBatch, ScanEvent
from services.core.clickhouse import clickhouse_client, utc
from services.core.config import Settings
from services.core.kafka_connection import kafka_options
from services.tracer.domain.model import Contact, Scan, Visit
from tests.support.kafka_read import Record, read_topic


def batch_of(scans: list[Scan]) -> ScanBatch:
    venue = scans[0].venue_id
    assert all(s.venue_id == venue for s in scans)
    return ScanBatch(
        venue_id=venue,
        scans=[
            ScanEvent(
                event_id=s.event_id,
                person_id=s.person,
                direction=s.direction,  # type: ignore[arg-type]
                scanned_at=utc(s.at),
            )
            for s in scans
        ],
    )


def produce_messages(settings: Settings, messages: Iterable[list[Scan]]) -> int:
    producer = KafkaProducer(
        **kafka_options(settings), acks="all", enable_idempotence=True, linger_ms=5
    )
    count = 0
    try:
        for scans in messages:
            batch = batch_of(scans)
            producer.send(
                settings.topic("scans"),
                key=batch.venue_id.encode(),
                value=batch.model_dump_json().encode(),
            )
            count += 1
        producer.flush(timeout=60)
    finally:
        producer.close()
    return count


def produce_raw(settings: Settings, topic: str, key: bytes | None, value: bytes) -> None:
    producer = KafkaProducer(**kafka_options(settings), acks="all")
    try:
        producer.send(settings.topic(topic), key=key, value=value).get(timeout=30)
    finally:
        producer.close()


def stored_visits(settings: Settings, table: str = "visits") -> set[Visit]:
    """The current visits in ``table``: ``visits`` or its person-first copy."""
    rows = clickhouse_client(settings).execute(
        "SELECT venue_id, person_id, toUInt32(started_at), toUInt32(ended_at)"
        f" FROM (SELECT venue_id, person_id, started_at, ended_at, deleted FROM {table} FINAL)"
        " WHERE deleted = 0"
    )
    return {Visit(v, p, int(s), int(e)) for v, p, s, e in rows}


def stored_visit_rows(settings: Settings) -> int:
    return int(
        clickhouse_client(settings).execute(
            "SELECT count() FROM (SELECT deleted FROM visits FINAL) WHERE deleted = 0"
        )[0][0]
    )


def stored_contacts(settings: Settings) -> set[Contact]:
    rows = clickhouse_client(settings).execute(
        "SELECT venue_id, person_a, person_b, toUInt32(started_at), toUInt32(ended_at)"
        " FROM (SELECT venue_id, person_a, person_b, started_at, ended_at, deleted"
        " FROM contacts FINAL) WHERE deleted = 0"
    )
    return {Contact(v, a, b, int(s), int(e)) for v, a, b, s, e in rows}


def fold_contacts(records: Iterable[Record]) -> set[Contact]:
    """``contacts`` records folded in order: upserts add, retractions remove."""
    current: dict[str, Contact] = {}
    for _, value, _, _ in records:
        assert value is not None
        for change in ContactBatch.model_validate_json(value).changes():
            if change.op == Op.RETRACT:
                current.pop(change.contact_id, None)
            else:
                current[change.contact_id] = Contact(
                    change.venue_id, change.person_a, change.person_b,
                    int(change.start.timestamp()), int(change.end.timestamp()))
    return set(current.values())


def contacts_from_topic(settings: Settings) -> set[Contact]:
    """The contacts topic folded in partition order."""
    return fold_contacts(read_topic(settings, settings.topic("contacts")))
