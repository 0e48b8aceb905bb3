"""The project's DDL and read queries on a *current* ClickHouse (chdb embeds one).

The servers here run ClickHouse 18.16; production runs current releases. Every migration must
apply on both, and the reads that hide retracted rows must hide them on both.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from chdb import session as chdb_session

from services.alerts import queries as alert_queries
from services.alerts.worker import store as alert_store
from truyvet.stack.migrations import discover, split_statements

DB = "truyvet"


def literal(value: Any) -> str:
    if isinstance(value, tuple | list):
        return "(" + ", ".join(literal(v) for v in value) + ")"
    if isinstance(value, datetime):
        return f"toDateTime('{value.astimezone(UTC):%Y-%m-%d %H:%M:%S}', 'UTC')"
    if isinstance(value, date):
        return f"toDate('{value.isoformat()}')"
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def bind(query: str, params: dict[str, Any]) -> str:
    return re.sub(r"%\((\w+)\)s", lambda m: literal(params[m.group(1)]), query)


@pytest.fixture(scope="module")
def current() -> Any:
    session = chdb_session.Session()
    session.query(f"CREATE DATABASE IF NOT EXISTS {DB}")
    session.query(f"USE {DB}")
    for migration in discover():
        for statement in split_statements(migration.path.read_text()):
            session.query(statement)
    yield session
    session.cleanup()


def rows(session: Any, query: str) -> list[list[str]]:
    text = str(session.query(query, "TSV")).strip()
    return [line.split("\t") for line in text.splitlines()] if text else []


def test_every_migration_applies_and_makes_the_tables(current: Any) -> None:
    tables = {
        r[0] for r in rows(current, f"SELECT name FROM system.tables WHERE database = '{DB}'")
    }
    assert {"scans", "visits", "contacts", "contacts_by_person", "cases", "alerts"} <= tables


def test_edge_reads_hide_retracted_contacts(current: Any) -> None:
    t = "toDateTime('2026-11-20 10:00:00', 'UTC')"
    u = "toDateTime('2026-11-20 11:00:00', 'UTC')"
    # The tracer writes `contacts`; the materialized views feed `contacts_by_person` (0004).
    insert = (
        "INSERT INTO contacts (day, venue_id, started_at, ended_at, contact_id, person_a,"
        " person_b, deleted, version) VALUES "
    )
    # Separate inserts make separate parts, as the tracer's batches do.
    current.query(insert + f"('2026-11-20', 'v', {t}, {u}, 'k1', 'p1', 'p2', 0, 1)")
    current.query(insert + f"('2026-11-20', 'v', {t}, {u}, 'k2', 'p0', 'p1', 0, 1)")
    current.query(insert + f"('2026-11-20', 'v', {t}, {u}, 'k2', 'p0', 'p1', 1, 2)")
    by_person = rows(current, "SELECT person_id, other_person_id, contact_id, deleted FROM"
                     f" {DB}.contacts_by_person ORDER BY contact_id, version, person_id")
    assert by_person == [["p1", "p2", "k1", "0"], ["p2", "p1", "k1", "0"],
                         ["p0", "p1", "k2", "0"], ["p1", "p0", "k2", "0"],
                         ["p0", "p1", "k2", "1"], ["p1", "p0", "k2", "1"]]
    params = {
        "persons": ("p1",),
        "earliest_day": date(2026, 11, 19),
        "until_day": date(2026, 11, 21),
        "earliest": datetime(2026, 11, 19, tzinfo=UTC),
        "until": datetime(2026, 11, 21, tzinfo=UTC),
        "since": datetime(2026, 11, 19, tzinfo=UTC),
    }
    found = rows(current, bind(alert_store._EDGES, params))
    assert [r[0] for r in found] == ["k1"]


def test_alert_reads_hide_withdrawn_alerts(current: Any) -> None:
    insert = (
        "INSERT INTO alerts (case_id, alert_id, person_id, degree, exposed_at, via_person_id,"
        " venue_ids, exposures, created_at, deleted, version) VALUES "
    )
    at = "toDateTime('2026-11-20 10:00:00', 'UTC')"
    current.query(insert + f"('c1', 'a1', 'p2', 1, {at}, '', ['v'], '[]', {at}, 0, 1)")
    current.query(insert + f"('c1', 'a2', 'p3', 1, {at}, '', ['v'], '[]', {at}, 0, 1)")
    current.query(insert + f"('c1', 'a2', 'p3', 1, {at}, '', ['v'], '[]', {at}, 1, 2)")
    found = rows(current, bind(alert_queries._ALERTS, {"case_id": "c1"}))
    assert [r[0] for r in found] == ["a1"]


def test_contact_graph_reads_hide_retracted_contacts(current: Any) -> None:
    insert = (
        "INSERT INTO contacts (day, venue_id, started_at, ended_at, contact_id, person_a,"
        " person_b, deleted, version) VALUES "
    )
    t = "toDateTime('2026-11-20 10:00:00', 'UTC')"
    u = "toDateTime('2026-11-20 11:00:00', 'UTC')"
    current.query(insert + f"('2026-11-20', 'v9', {t}, {u}, 'k1', 'a', 'b', 0, 1)")
    current.query(insert + f"('2026-11-20', 'v9', {t}, {u}, 'k2', 'a', 'c', 0, 1)")
    current.query(insert + f"('2026-11-20', 'v9', {t}, {u}, 'k2', 'a', 'c', 1, 2)")
    found = rows(
        current,
        bind(alert_queries._CONTACTS, {"venue_id": "v9", "day": date(2026, 11, 20), "limit": 10}),
    )
    assert [(r[1], r[2]) for r in found] == [("a", "b")]
