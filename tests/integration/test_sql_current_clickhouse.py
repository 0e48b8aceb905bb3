"""The project's DDL and read queries on a *current* ClickHouse (chdb embeds one; the
``current`` fixture of ``conftest.py``).

The servers here run ClickHouse 18.16; production runs current releases. Every migration must
apply on both, and the reads that hide retracted rows must hide them on both.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from typing import Any

from services.alerts.queries import sql as alert_queries
from services.alerts.worker import store as alert_store
from tests.integration.conftest import CURRENT_DB as DB
from tests.integration.conftest import rows


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




def test_every_migration_applies_and_makes_the_tables(current: Any) -> None:
    tables = {
        r[0] for r in rows(current, f"SELECT name FROM system.tables WHERE database = '{DB}'")
    }
    assert {"scans", "visits", "visits_by_person", "contacts", "cases", "alerts"} <= tables
    assert "contacts_by_person" not in tables  # 0005: person reads go through the visits


def test_edge_reads_find_a_persons_current_contacts_through_their_visits(current: Any) -> None:
    t = "toDateTime('2026-11-20 10:00:00', 'UTC')"
    u = "toDateTime('2026-11-20 11:00:00', 'UTC')"
    # The tracer writes `visits`; the materialized view feeds `visits_by_person` (0005).
    visit = (
        "INSERT INTO visits (day, venue_id, person_id, started_at, ended_at, visit_id, deleted,"
        " version) VALUES "
    )
    for venue, person in (("v", "p0"), ("v", "p1"), ("v", "p2"), ("v", "p5"), ("v", "p6"),
                          ("w", "p3"), ("w", "p4")):
        current.query(visit + f"('2026-11-20', '{venue}', '{person}', {t}, {u},"
                      f" 'visit-{venue}-{person}', 0, 1)")
    # A stay of three days at a venue that allows it (up to MAX_DWELL_LIMIT_S), across midnights.
    long_start = "toDateTime('2026-11-17 22:00:00', 'UTC')"
    long_end = "toDateTime('2026-11-20 10:30:00', 'UTC')"
    for person in ("p8", "p9"):
        current.query(visit + f"('2026-11-17', 'h', '{person}', {long_start}, {long_end},"
                      f" 'visit-h-{person}', 0, 1)")
    by_person = rows(current, "SELECT person_id, venue_id, visit_id, day FROM"
                     f" {DB}.visits_by_person WHERE person_id IN ('p1', 'p8') ORDER BY person_id")
    # `day` is the day the visit ends: its retention partition.
    assert by_person == [["p1", "v", "visit-v-p1", "2026-11-20"],
                         ["p8", "h", "visit-h-p8", "2026-11-20"]]
    contact = (
        "INSERT INTO contacts (day, venue_id, started_at, ended_at, contact_id, person_a,"
        " person_b, deleted, version) VALUES "
    )
    # Separate inserts make separate parts, as the tracer's batches do.
    current.query(contact + f"('2026-11-20', 'v', {t}, {u}, 'k1', 'p1', 'p2', 0, 1)")
    current.query(contact + f"('2026-11-20', 'v', {t}, {u}, 'k2', 'p0', 'p1', 0, 1)")
    current.query(contact + f"('2026-11-20', 'v', {t}, {u}, 'k2', 'p0', 'p1', 1, 2)")
    # Only venues where one of the persons was are read: p1 has no visit at `w`.
    current.query(contact + f"('2026-11-20', 'w', {t}, {u}, 'k3', 'p1', 'p4', 0, 1)")
    current.query(contact + f"('2026-11-20', 'v', {t}, {u}, 'k4', 'p5', 'p6', 0, 1)")
    current.query(contact + f"('2026-11-20', 'h', {t}, {u}, 'k8', 'p8', 'p9', 0, 1)")
    since = int(datetime(2026, 11, 19, tzinfo=UTC).timestamp())
    until = int(datetime(2026, 11, 21, tzinfo=UTC).timestamp())

    def contacts_of(*persons: str) -> list[list[str]]:
        window = alert_store.visited_params(set(persons), since, until)
        visited = [(r[0], int(r[1])) for r in rows(current, bind(alert_store.VISITED, window))]
        params = alert_store.edge_params(set(persons), visited, since, until)
        return rows(current, bind(alert_store.EDGES, params))

    assert [r[:4] for r in contacts_of("p1")] == [["k1", "v", "p1", "p2"]]
    assert sorted(r[0] for r in contacts_of("p1", "p3")) == ["k1", "k3"]
    # The visit began more than a default max dwell (12 h) before the window: still found.
    assert [r[0] for r in contacts_of("p9")] == ["k8"]


def test_alert_reads_hide_withdrawn_alerts(current: Any) -> None:
    insert = (
        "INSERT INTO alerts (case_id, alert_id, person_id, degree, exposed_at, via_person_id,"
        " venue_ids, exposures, created_at, deleted, version) VALUES "
    )
    at = "toDateTime('2026-11-20 10:00:00', 'UTC')"
    current.query(insert + f"('c1', 'a1', 'p2', 1, {at}, '', ['v'], '[]', {at}, 0, 1)")
    current.query(insert + f"('c1', 'a2', 'p3', 1, {at}, '', ['v'], '[]', {at}, 0, 1)")
    current.query(insert + f"('c1', 'a2', 'p3', 1, {at}, '', ['v'], '[]', {at}, 1, 2)")
    found = rows(current, bind(alert_queries.ALERTS, {"case_id": "c1"}))
    assert [r[0] for r in found] == ["a1"]


def test_a_page_of_alerts_counts_and_caps_exposures_on_current_clickhouse(current: Any) -> None:
    exposures = ",".join(f'{{"contact_id":"k{k}","venue_id":"v"}}' for k in range(8))
    at = "toDateTime('2026-11-20 10:00:00', 'UTC')"
    current.query(
        "INSERT INTO alerts (case_id, alert_id, person_id, degree, exposed_at, via_person_id,"
        f" venue_ids, exposures, created_at, deleted, version) VALUES ('c7', 'a1', 'p2', 1, {at},"
        f" '', ['v'], '[{exposures}]', {at}, 0, 1)")
    params = {"case_id": "c7", "degree_min": 1, "degree_max": 6, "since": 0,
              "until": 2**32 - 1, "after_degree": 0, "after_at": 0, "after_id": "", "limit": 10}
    ((row),) = rows(current, bind(alert_queries.ALERT_PAGE, params))
    head = json.loads(row[7].replace("\\", ""))
    assert int(row[8]) == 8 and [e["contact_id"] for e in head] == ["k0", "k1", "k2", "k3", "k4"]
    assert len(head) == alert_queries.EXPOSURES_SHOWN


def test_a_page_of_alerts_in_risk_order_on_current_clickhouse(current: Any) -> None:
    at = "toDateTime('2026-11-20 10:00:00', 'UTC')"
    insert = (
        "INSERT INTO alerts (case_id, alert_id, person_id, degree, exposed_at, via_person_id,"
        " venue_ids, exposures, created_at, deleted, version, risk_score, risk_level) VALUES "
    )
    for alert_id, score in (("a1", 4.5), ("a2", 21.0), ("a3", 7.25)):
        current.query(insert + f"('c8', '{alert_id}', 'p2', 1, {at}, '', ['v'], '[]', {at}, 0,"
                      f" 1, {score}, 'low')")
    params = {"case_id": "c8", "degree_min": 1, "degree_max": 6, "since": 0,
              "until": 2**32 - 1, "after_degree": 0, "after_at": 0, "after_id": "",
              "after_risk": 2**62, "limit": 10}
    found = rows(current, bind(alert_queries.ALERT_PAGE_BY_RISK, params))
    assert [(r[0], float(r[10])) for r in found] == [("a2", 21.0), ("a3", 7.25), ("a1", 4.5)]
    after = rows(current, bind(alert_queries.ALERT_PAGE_BY_RISK,
                               {**params, "after_risk": 725, "after_degree": 1,
                                "after_at": 1795168800, "after_id": "a3"}))
    assert [r[0] for r in after] == ["a1"]


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
        bind(alert_queries.CONTACTS, {"venue_id": "v9", "day": date(2026, 11, 20), "limit": 10}),
    )
    assert [(r[1], r[2]) for r in found] == [("a", "b")]


def test_directory_follow_up_and_status_reads_on_current_clickhouse(current: Any) -> None:
    """Migration 0009's reads: the newest sealed copy per pseudonym, an alert's current
    follow-up state, the funnel, and a person's open cases and alerts."""
    at = "toDateTime('2026-11-20 10:00:00', 'UTC')"
    later = "toDateTime('2026-11-21 10:00:00', 'UTC')"
    current.query(f"INSERT INTO directory VALUES ('p2', 'k1', 'old', {at})")
    current.query(f"INSERT INTO directory VALUES ('p2', 'k2', 'new', {later})")
    found = rows(current, bind(alert_queries.DIRECTORY_OF, {"people": ("p2", "p9")}))
    assert found == [["p2", "k2", "new"]]
    current.query("INSERT INTO cases (case_id, person_id, status, reported_at, version) VALUES "
                  f"('c9', 'p1', 'reported', {at}, 1)")
    alert = ("INSERT INTO alerts (case_id, alert_id, person_id, degree, exposed_at, "
             "via_person_id, venue_ids, exposures, created_at, deleted, version) VALUES ")
    current.query(alert + f"('c9', 'a1', 'p2', 1, {at}, '', ['v'], '[]', {at}, 0, 1)")
    current.query(alert + f"('c9', 'a2', 'p3', 2, {at}, 'p2', ['v'], '[]', {at}, 0, 1)")
    follow = ("INSERT INTO follow_ups (day, at, case_id, alert_id, state, note, token_id, "
              "reported_case_id, version) VALUES ")
    current.query(follow + f"('2026-11-20', {at}, 'c9', 'a1', 'reached', '', 't', '', 1)")
    current.query(follow + f"('2026-11-21', {later}, 'c9', 'a1', 'tested_positive', '', 't', "
                  "'c10', 2)")
    states = rows(current, bind(alert_queries.FOLLOW_UP_STATES, {"case_id": "c9"}))
    assert [r[:2] for r in states] == [["a1", "tested_positive"]]
    assert rows(current, bind(alert_queries.FOLLOW_UP_REPORTED, {"case_id": "c9"})) == [
        ["a1", "c10"]]
    since = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
    funnel = dict(map(tuple, rows(current, bind(alert_queries.FOLLOW_UP_FUNNEL,  # type: ignore[arg-type]
                                                {"open_since": since}))))
    assert funnel.get("tested_positive") == "1" and int(funnel.get("new", 0)) >= 1
    params = {"person": "p1", "open_since": since}
    assert rows(current, bind(alert_queries.PERSON_CASES, params)) == [["c9"]]
    params = {"person": "p3", "open_since": since}
    assert [r[:3] for r in rows(current, bind(alert_queries.PERSON_ALERTS, params))] == [
        ["c9", "a2", "2"]]
    # An open exposure event's alert of p3 is a venue exposure; a withdrawn event's is not.
    event = ("INSERT INTO exposure_events (event_id, venue_id, started_at, ended_at, message,"
             " action, min_presence_s, with_contacts, declared_at, status, version) VALUES ")
    current.query(event + f"('ev9', 'v', {at}, {later}, '', 'test', 0, 0, {at}, 'declared', 1)")
    current.query(event + f"('ev8', 'v', {at}, {later}, '', 'test', 0, 0, {at}, 'withdrawn', 1)")
    current.query(alert + f"('ev9', 'a9', 'p3', 1, {at}, '', ['v'], '[]', {at}, 0, 1)")
    current.query(alert + f"('ev8', 'a8', 'p3', 1, {at}, '', ['v'], '[]', {at}, 0, 1)")
    assert [r[:3] for r in rows(current, bind(alert_queries.PERSON_EVENT_ALERTS, params))] == [
        ["ev9", "a9", "1"]]
    contacts = rows(current, bind(alert_queries.CONTACT_ALERTS, {"case_id": "c9",
                                                                 "limit": 10}))
    assert [r[0] for r in contacts] == ["a1", "a2"]

def test_a_venues_hours_count_its_own_distinct_scans_on_current_clickhouse(current: Any) -> None:
    insert = ("INSERT INTO scans (day, venue_id, event_id, person_id, direction, scanned_at, gate,"
              " ingested_at, version) VALUES ")
    at = "toDateTime('2026-11-20 01:10:00', 'UTC')"
    for venue, event, who, version in (("v7", "e1", "p1", 1), ("v7", "e1", "p1", 2),
                                       ("v7", "e2", "p1", 1), ("v7", "e3", "p2", 1),
                                       ("v8", "e9", "p3", 1)):
        current.query(insert + f"('2026-11-20', '{venue}', '{event}', '{who}', 'in', {at}, '',"
                      f" {at}, {version})")
    since = datetime(2026, 11, 19, 17, tzinfo=UTC)
    until = datetime(2026, 11, 20, 17, tzinfo=UTC)
    found = rows(current, bind(alert_queries.VENUE_HOURS, {
        "venue_id": "v7", "since": int(since.timestamp()), "since_day": since.date(),
        "until": int(until.timestamp()), "until_day": until.date()}))
    hour = int(datetime(2026, 11, 20, 1, tzinfo=UTC).timestamp())
    assert found == [[str(hour), "3", "2"]]  # e1 replayed counts once; v8 is not in it

def test_venue_and_person_visit_reads_hide_retracted_visits(current: Any) -> None:
    visit = (
        "INSERT INTO visits (day, venue_id, person_id, started_at, ended_at, visit_id, deleted,"
        " version) VALUES "
    )
    t = "toDateTime('2026-11-22 10:00:00', 'UTC')"
    u = "toDateTime('2026-11-22 11:00:00', 'UTC')"
    current.query(visit + f"('2026-11-22', 'ev', 'q1', {t}, {u}, 'x1', 0, 1)")
    current.query(visit + f"('2026-11-22', 'ev', 'q2', {t}, {u}, 'x2', 0, 1)")
    current.query(visit + f"('2026-11-22', 'ev', 'q2', {t}, {u}, 'x2', 1, 2)")  # retracted
    since = int(datetime(2026, 11, 22, 9, tzinfo=UTC).timestamp())
    until = int(datetime(2026, 11, 22, 12, tzinfo=UTC).timestamp())
    visits_from = since - alert_store.MAX_DWELL_LIMIT_S
    at_venue = rows(current, bind(alert_store.VENUE_VISITS, {
        "venue": "ev", "since_day": date(2026, 11, 21), "until_day": date(2026, 11, 22),
        "visits_from": datetime.fromtimestamp(visits_from, UTC),
        "until": datetime.fromtimestamp(until, UTC), "since": datetime.fromtimestamp(since, UTC)}))
    assert [r[:3] for r in at_venue] == [["x1", "ev", "q1"]]
    window = alert_store.venue_window_params("ev", since, until)
    digest = rows(current, bind(alert_store.VENUE_VISITS_DIGEST, window))
    assert digest[0][0] == "3"  # every version read, the retraction included
    current.query(visit + f"('2026-11-22', 'ev', 'q3', {t}, {u}, 'x3', 0, 1)")
    assert rows(current, bind(alert_store.VENUE_VISITS_DIGEST, window)) != digest
    of_people = rows(current, bind(alert_store.PERSON_VISITS,
                                   alert_store.visited_params({"q1", "q2"}, since, until)))
    assert [r[:3] for r in of_people] == [["x1", "ev", "q1"]]
    current.query("INSERT INTO clusters (cluster_id, venue_id, venue_kind, started_at, ended_at,"
                  f" case_ids, visit_ids, visitors, detected_at, deleted, version) VALUES ('k1',"
                  f" 'ev', 'other', {t}, {u}, ['c1', 'c2'], ['x1'], 3, {t}, 0, 1)")
    assert [r[0] for r in rows(current, alert_store.CLUSTERS)] == ["k1"]


def test_the_dashboards_clusters_and_exposure_events_on_current_clickhouse(current: Any) -> None:
    """The venue panel's reads: a dissolved cluster and a withdrawn event are not listed; an
    event's alerts are counted without its retracted ones; venues shown by name."""
    at = "toDateTime('2026-11-23 10:00:00', 'UTC')"
    end = "toDateTime('2026-11-23 12:00:00', 'UTC')"
    current.query("INSERT INTO venues (venue_id, name, kind, version) VALUES "
                  "('cv', 'Chợ Cluster', 'market', 1)")
    cluster = ("INSERT INTO clusters (cluster_id, venue_id, venue_kind, started_at, ended_at, "
               "case_ids, visit_ids, visitors, detected_at, deleted, version) VALUES ")
    current.query(cluster + f"('cl1', 'cv', 'market', {at}, {end}, ['c1','c2','c3'], [], 40, "
                  f"{end}, 0, 1)")
    current.query(cluster + f"('cl2', 'cw', 'shop', {at}, {end}, ['c1','c2'], [], 9, {end}, 0, 1)")
    current.query(cluster + f"('cl2', 'cw', 'shop', {at}, {end}, [], [], 0, {end}, 1, 2)")
    event = ("INSERT INTO exposure_events (event_id, venue_id, started_at, ended_at, message, "
             "action, min_presence_s, with_contacts, declared_at, status, version) VALUES ")
    current.query(event + f"('ev1', 'cv', {at}, {end}, 'm', 'test', 0, 0, {end}, 'declared', 1)")
    current.query(event + f"('ev2', 'cv', {at}, {end}, 'm', 'inform', 0, 0, {end}, "
                  "'declared', 1)")
    current.query(event + f"('ev2', 'cv', {at}, {end}, 'm', 'inform', 0, 0, {end}, "
                  "'withdrawn', 2)")
    alert = ("INSERT INTO alerts (case_id, alert_id, person_id, degree, exposed_at, "
             "via_person_id, venue_ids, exposures, created_at, deleted, version) VALUES ")
    for alert_id, deleted in (("e1", 0), ("e2", 0), ("e3", 1)):
        current.query(alert + f"('ev1', '{alert_id}', 'p{alert_id}', 1, {at}, '', ['cv'], '[]', "
                      f"{at}, {deleted}, 1)")
    since = int(datetime(2026, 11, 22, tzinfo=UTC).timestamp())
    clusters = rows(current, bind(alert_queries.CURRENT_CLUSTERS, {"since": since, "limit": 10}))
    # The database is shared by this module's tests: only this test's rows are looked at.
    assert [(r[0], r[2], r[6], r[7]) for r in clusters if r[0] in ("cl1", "cl2")] == [
        ("cl1", "Chợ Cluster", "3", "40")]
    events = rows(current, bind(alert_queries.DECLARED_EVENTS, {"since": since, "limit": 10}))
    assert [(r[0], r[2], r[5], r[6]) for r in events if r[0] in ("ev1", "ev2")] == [
        ("ev1", "Chợ Cluster", "test", "2")]
    later = int(datetime(2026, 11, 24, tzinfo=UTC).timestamp())
    assert [r[0] for r in rows(current, bind(alert_queries.CURRENT_CLUSTERS,
                                             {"since": later, "limit": 10})) if r[0] == "cl1"] == []


def test_a_venues_day_visits_for_its_occupancy_on_current_clickhouse(current: Any) -> None:
    visit = ("INSERT INTO visits (day, venue_id, person_id, started_at, ended_at, visit_id, "
             "deleted, version) VALUES ")
    t = "toDateTime('2026-11-24 23:30:00', 'UTC')"
    u = "toDateTime('2026-11-25 00:30:00', 'UTC')"  # across midnight: ends the next day
    current.query(visit + f"('2026-11-25', 'oc', 'o1', {t}, {u}, 'y1', 0, 1)")
    current.query(visit + f"('2026-11-24', 'oc', 'o2', {t}, {t}, 'y2', 0, 1)")
    current.query(visit + f"('2026-11-24', 'oc', 'o2', {t}, {t}, 'y2', 1, 2)")  # retracted
    current.query(visit + f"('2026-11-24', 'od', 'o3', {t}, {t}, 'y3', 0, 1)")  # elsewhere
    since = int(datetime(2026, 11, 24, tzinfo=UTC).timestamp())
    found = rows(current, bind(alert_queries.VENUE_DAY_VISITS, {
        "venue_id": "oc", "day": date(2026, 11, 24), "last_day": date(2026, 11, 27),
        "since": since, "until": since + 86_400}))
    assert [r[0] for r in found] == ["o1"]
