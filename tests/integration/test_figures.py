"""The dashboard's headline figures (`GET /v1/figures`) and the views behind them.

Rows are written straight into an isolated ClickHouse database, as the tracer and the alerts
worker would — replays, retracted and re-graded alerts, withdrawn and old cases included — and
the API's numbers are checked exactly. Venue names take the production path: venue records (a
renamed one too) on the ``registry`` topic, copied to ``venues`` by a running alerts worker.
The same views and queries also run on a current ClickHouse (chdb) when it is installed.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from schemas.common import utc_now
from schemas.registry import Role, VenueRecord
from schemas.venues import VenueKind, VenuePublic
from services.alerts.api.views import CaseView
from services.alerts.queries import ClickHouseReads, figures_window
from services.core.clickhouse import clickhouse_client
from services.core.config import Settings
from services.core.registry_log import publish_records_blocking
from tests.conftest import _drop_stores
from tests.support.processes import ServiceProcess, running_http_service, wait_for
from tests.support.stack import grant, isolated_settings
from truyvet.registry_commands import add_venue
from truyvet.stack.migrations import MIGRATIONS_DIR, split_statements

VIEWS = {"scans_per_hour", "venue_activity", "venue_names", "case_alert_counts"}
HOUR = timedelta(hours=1)


# The columns the statements below fill (later migrations add some with defaults).
VENUE_COLUMNS = ("venue_id, name, kind, default_dwell_s, max_dwell_s, min_overlap_s, created_at,"
                 " version")
ALERT_COLUMNS = ("case_id, alert_id, person_id, degree, exposed_at, via_person_id, venue_ids,"
                 " exposures, created_at, deleted, version")


def person(name: str) -> str:
    return f"{name:0>64}"[-64:]  # pseudonym-shaped (64 chars) and readable


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Scan:
    venue: str
    event: str
    who: str
    at: datetime
    version: int = 1

    def row(self) -> tuple[Any, ...]:
        return (self.at.date(), self.venue, self.event, person(self.who), "in", self.at, "",
                self.at, self.version)


def the_scans(hour0: datetime) -> list[Scan]:
    """Scans around the 24-hour window that ends with ``hour0``'s hour."""

    def at(hours_ago: int, minute: int) -> datetime:
        return hour0 - hours_ago * HOUR + timedelta(minutes=minute)

    scans = [
        # market: 6 distinct scans this hour by 3 people, and a replay of one of them.
        *(Scan("market", f"m{i}", f"p{i % 3}", at(0, i)) for i in range(6)),
        Scan("market", "m0", "p0", at(0, 0), version=2),
        # cafe: 2 scans 2 h ago, 2 at the oldest hour still in the window.
        Scan("cafe", "c1", "p1", at(2, 5)), Scan("cafe", "c2", "p4", at(2, 50)),
        Scan("cafe", "c3", "p5", at(23, 0)), Scan("cafe", "c4", "p5", at(23, 59)),
        # The same event id at another venue is another scan.
        Scan("kiosk", "m0", "p0", at(0, 30)),
        # One hour too old: in no figure.
        *(Scan("old-venue", f"o{i}", "p9", at(24, 10 + i)) for i in range(9)),
    ]
    # Ten more venues with 1..10 scans each (5 h ago): only the busiest make the top 10.
    for n in range(1, 11):
        scans += [Scan(f"venue-{n:02d}", f"v{n}-{i}", f"q{i}", at(5, i)) for i in range(n)]
    return scans


@dataclass(frozen=True)
class Expected:
    since: datetime
    per_hour: list[tuple[datetime, int, int]]
    busiest: list[tuple[str, str, int]]


def expected_figures(scans: list[Scan], since: datetime) -> Expected:
    """The figures by brute force over the written scans."""
    live = {(s.venue, s.event): s for s in scans if since <= s.at < since + 24 * HOUR}
    per_hour = []
    for k in range(24):
        hour = since + k * HOUR
        here = [s for s in live.values() if hour <= s.at < hour + HOUR]
        per_hour.append((hour, len(here), len({s.who for s in here})))
    by_venue: dict[str, int] = {}
    for venue, _ in live:
        by_venue[venue] = by_venue.get(venue, 0) + 1
    names = {"market": "Chợ Bến Thành", "cafe": "Cà phê Sữa Đá"}
    top = sorted(by_venue.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    return Expected(since, per_hour, [(v, names.get(v, v), n) for v, n in top])


def write_rows(settings: Settings, scans: list[Scan], now: datetime) -> None:
    client = clickhouse_client(settings)

    def alert(case_id: str, name: str, degree: int, *, deleted: int = 0,
              version: int = 1) -> tuple[Any, ...]:
        return (case_id, f"alert-{case_id}-{name}", person(name), degree, now - 3 * HOUR,
                "" if degree == 1 else person("via"), ["market"], "[]", now, deleted, version)

    def case(case_id: str, reported: datetime, status: str = "reported",
             version: int = 1) -> tuple[Any, ...]:
        withdrawn = now if status == "withdrawn" else None
        return (case_id, person(f"f0-{case_id}"), status, reported - 24 * HOUR, None, reported,
                None, withdrawn, version)

    try:
        # Separate inserts, as separate batches would be: the views must merge across parts.
        for batch in (scans[:7], scans[7:]):
            client.execute(
                "INSERT INTO scans (day, venue_id, event_id, person_id, direction, scanned_at,"
                " gate, ingested_at, version) VALUES", [s.row() for s in batch])
        for row in (
            case("case-new", now - 2 * HOUR),
            case("case-quiet", now - 24 * HOUR),
            case("case-gone", now - 3 * HOUR),
            case("case-gone", now - 3 * HOUR, "withdrawn", version=2),
            case("case-old", now - 30 * 24 * HOUR),  # beyond the 21-day horizon
        ):
            client.execute(
                "INSERT INTO cases (case_id, person_id, status, onset_at, sampled_at,"
                " reported_at, isolated_at, withdrawn_at, version) VALUES", [row])
        for row in (
            alert("case-new", "ann", 1),
            alert("case-new", "bob", 1),
            alert("case-new", "cy", 2),
            alert("case-new", "dan", 1),
            alert("case-new", "dan", 1, deleted=1, version=2),  # retracted
            alert("case-new", "eve", 1),
            alert("case-new", "eve", 2, version=2),  # re-graded F1 → F2
            alert("case-new", "fay", 3),  # max_degree 3
            alert("case-gone", "gus", 1),
            alert("case-gone", "gus", 1, deleted=1, version=2),
            alert("case-old", "hal", 1),
        ):
            client.execute(
                "INSERT INTO alerts (case_id, alert_id, person_id, degree, exposed_at,"
                " via_person_id, venue_ids, exposures, created_at, deleted, version) VALUES",
                [row])
    finally:
        client.disconnect()


def venue_record(venue_id: str, name: str, kind: VenueKind) -> VenueRecord:
    return VenueRecord(
        venue=VenuePublic(venue_id=venue_id, name=name, kind=kind, default_dwell_s=3600,
                          max_dwell_s=43200, min_overlap_s=900, created_at=utc_now()),
        key_sha256="0" * 64,
    )


def copy_venue_names(settings: Settings, state_dir: Path) -> None:
    """Register the named venues (the market renamed) and let the alerts worker copy them."""
    publish_records_blocking(settings, [
        venue_record("market", "Cho cu", VenueKind.MARKET),
        venue_record("market", "Chợ Bến Thành", VenueKind.MARKET),
        venue_record("cafe", "Cà phê Sữa Đá", VenueKind.RESTAURANT),
    ])

    def copied() -> bool:
        client = clickhouse_client(settings)
        try:
            rows = dict(client.execute("SELECT venue_id, name FROM venue_names"))
        finally:
            client.disconnect()
        return rows.get("market") == "Chợ Bến Thành" and rows.get("cafe") == "Cà phê Sữa Đá"

    worker = ServiceProcess("services.alerts.worker", settings, state_dir / "alerts-worker.log")
    try:
        wait_for(copied, 60, "the venue names copied from the registry", 0.5)
    finally:
        worker.stop()


@dataclass(frozen=True)
class FiguresUnderTest:
    settings: Settings
    url: str
    tokens: dict[str, str]
    now: datetime
    expected: Expected

    def get(self, path: str, who: str | None = "dashboard") -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return httpx.get(f"{self.url}{path}", headers=headers, timeout=30)


def seconds_into_hour() -> float:
    return time.time() % 3600


@pytest.fixture(scope="module")
def api(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FiguresUnderTest]:
    # The window is whole hours: keep clear of an hour's end so the API sees the same window.
    wait_for(lambda: seconds_into_hour() < 3510, 100, "a moment clear of the hour's end",
             every_s=1)
    now = datetime.now(UTC).replace(microsecond=0)
    since, _ = figures_window(now)
    state_dir: Path = tmp_path_factory.mktemp("figures")
    # Every count shown as it is (suppression is tested in test_alerts_api).
    settings = isolated_settings(stack, state_dir).model_copy(update={"min_group": 1})
    tokens = {role.value: grant(settings, role)
              for role in (Role.ADMIN, Role.AUTHORITY, Role.DASHBOARD)}
    tokens["venue"] = add_venue(settings, name="A venue")["api_key"]
    scans = the_scans(since + 23 * HOUR)
    write_rows(settings, scans, now)
    copy_venue_names(settings, state_dir)
    url = f"http://{settings.alerts_host}:{settings.alerts_port}"
    try:
        with running_http_service("services.alerts", settings, url, state_dir / "alerts.log"):
            yield FiguresUnderTest(settings, url, tokens, now, expected_figures(scans, since))
    finally:
        _drop_stores(settings)


def test_the_views_exist_after_the_migrations(api: FiguresUnderTest) -> None:
    client = clickhouse_client(api.settings)
    try:
        views = client.execute(
            "SELECT name FROM system.tables WHERE database = %(db)s AND engine = 'View'",
            {"db": api.settings.clickhouse_database})
        applied = client.execute("SELECT name FROM schema_migrations")
    finally:
        client.disconnect()
    assert {name for (name,) in views} >= VIEWS
    assert ("0002_dashboard_views",) in applied


def test_scans_per_hour_are_distinct_scans_in_24_whole_hours(api: FiguresUnderTest) -> None:
    answer = api.get("/v1/figures")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    want = api.expected
    assert body["since"] == iso(want.since)
    assert body["until"] == iso(want.since + 24 * HOUR)
    assert [(h["hour"], h["scans"], h["people"]) for h in body["scans_per_hour"]] == [
        (iso(hour), scans, people) for hour, scans, people in want.per_hour]
    # By hand: market 6 + kiosk 1 this hour, cafe 2 + 2, venues 1..10 → 55; old-venue is out.
    assert body["scans"] == 6 + 1 + 4 + 55
    current = body["scans_per_hour"][-1]
    assert (current["scans"], current["people"]) == (7, 3)
    assert body["scans_per_hour"][0]["scans"] == 2  # cafe, at the oldest hour of the window


def test_busiest_venues_are_the_top_ten_with_their_latest_names(api: FiguresUnderTest) -> None:
    body = api.get("/v1/figures").json()
    got = [(v["venue_id"], v["name"], v["scans"]) for v in body["busiest_venues"]]
    assert got == api.expected.busiest
    assert got[:3] == [("venue-10", "venue-10", 10), ("venue-09", "venue-09", 9),
                       ("venue-08", "venue-08", 8)]
    assert ("market", "Chợ Bến Thành", 6) in got and ("cafe", "Cà phê Sữa Đá", 4) in got
    assert len(got) == 10 and "old-venue" not in {v for v, _, _ in got}


def test_open_cases_count_current_alerts_by_degree(api: FiguresUnderTest) -> None:
    assert api.get("/v1/figures").json()["open_cases"]["cases"] is None  # dashboard: counts
    body = api.get("/v1/figures", "authority").json()["open_cases"]
    assert body["count"] == 2
    assert (body["f1"], body["f2"], body["beyond_f2"]) == (2, 2, 1)

    def shown(case_id: str) -> str:  # the F0 in the case's own ids, as its alerts show
        return CaseView(api.settings.read_secret, case_id).person(person(f"f0-{case_id}"))

    assert body["cases"] == [
        {"case_id": "case-new", "person_id": shown("case-new"),
         "reported_at": iso(api.now - 2 * HOUR), "f1": 2, "f2": 2, "beyond_f2": 1},
        {"case_id": "case-quiet", "person_id": shown("case-quiet"),
         "reported_at": iso(api.now - 24 * HOUR), "f1": 0, "f2": 0, "beyond_f2": 0},
    ]
    horizon = api.now - timedelta(days=api.settings.retention_days)
    assert timedelta(0) <= datetime.fromisoformat(body["since"]) - horizon < timedelta(minutes=5)
    by_day = api.get("/v1/figures").json()["cases_by_day"]
    assert sum(d["cases"] for d in by_day) == 2 and sum(d["f2"] for d in by_day) == 2
    by_kind = api.get("/v1/figures").json()["alerts_by_venue_kind"]
    assert all(k["degree"] >= 1 and k["alerts"] >= 1 for k in by_kind)


def test_case_alert_counts_keeps_withdrawn_and_old_cases_for_grafana(
    api: FiguresUnderTest,
) -> None:
    client = clickhouse_client(api.settings)
    try:
        rows = client.execute(
            "SELECT case_id, status, f1, f2, beyond_f2, alerts FROM case_alert_counts"
            " ORDER BY case_id")
    finally:
        client.disconnect()
    assert rows == [
        ("case-gone", "withdrawn", 0, 0, 0, 0),
        ("case-new", "reported", 2, 2, 1, 5),
        ("case-old", "reported", 1, 0, 0, 1),
        ("case-quiet", "reported", 0, 0, 0, 0),
    ]


@pytest.mark.parametrize(("who", "status"), [(None, 401), ("venue", 403), ("dashboard", 200),
                                             ("authority", 200), ("admin", 200)])
def test_figures_are_for_readers_only(api: FiguresUnderTest, who: str | None,
                                      status: int) -> None:
    answer = api.get("/v1/figures", who)
    assert answer.status_code == status
    if status != 200:
        assert answer.json()["error"] in {"unauthorized", "forbidden"}


def test_the_dashboard_page_and_its_assets_are_served_without_a_token(
    api: FiguresUnderTest,
) -> None:
    page = api.get("/", None)
    assert page.status_code == 200 and "truyvet dashboard" in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert "unsafe-inline" not in policy
    for asset, kind in (("/static/js/main.js", "javascript"), ("/static/dashboard.css", "css")):
        answer = api.get(asset, None)
        assert answer.status_code == 200, asset
        assert kind in answer.headers["content-type"]
        assert answer.headers["cache-control"] == "no-cache"
    assert api.get("/static/../app.py", None).status_code == 404
    assert "/v1/figures" in api.get("/openapi.json", None).json()["paths"]


# --- the same SQL on a current ClickHouse --------------------------------------------------


class _ChdbClient:
    """Enough of clickhouse-driver's ``Client`` for ``ClickHouseReads``, over chdb."""

    def __init__(self, session: Any) -> None:
        from clickhouse_driver import Client

        self._session = session
        self._params = Client("localhost")  # only formats parameters; never connects

    def execute(self, query: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        sql = self._params.substitute_params(query, params or {}, self._params.connection.context)
        answer = self._session.query(sql, "JSONCompact")
        return [tuple(row) for row in json.loads(answer.bytes() or b'{"data": []}')["data"]]

    def disconnect(self) -> None:
        pass


def test_views_and_figure_queries_run_on_a_current_clickhouse() -> None:
    from chdb import session as chdb_session
    now = datetime.now(UTC).replace(microsecond=0)
    since, until = figures_window(now)
    with tempfile.TemporaryDirectory() as path:
        session = chdb_session.Session(path)
        try:
            session.query("CREATE DATABASE truyvet")
            session.query("USE truyvet")
            for migration in sorted(MIGRATIONS_DIR.glob("*.sql")):
                for statement in split_statements(migration.read_text(encoding="utf-8")):
                    session.query(statement)
            client = _ChdbClient(session)
            reads = ClickHouseReads(client)  # type: ignore[arg-type]
            scans = the_scans(since + 23 * HOUR)
            for s in scans:
                client.execute(
                    "INSERT INTO scans SELECT toDate(toDateTime(%(t)s, 'UTC')), %(v)s, %(e)s,"
                    " %(p)s, 'in', toDateTime(%(t)s, 'UTC'), '', now(), %(n)s",
                    {"t": int(s.at.timestamp()), "v": s.venue, "e": s.event, "p": person(s.who),
                     "n": s.version})
            session.query(f"INSERT INTO venues ({VENUE_COLUMNS}) SELECT 'cafe', 'Cà phê Sữa Đá',"
                          " 'restaurant', 3600, 43200, 900, now(), 1")
            session.query(f"INSERT INTO venues ({VENUE_COLUMNS}) SELECT 'market', 'Chợ Bến Thành',"
                          " 'market',"
                          " 3600, 43200, 900, now(), 1")
            session.query(f"INSERT INTO cases SELECT 'c1', 'f0', 'reported', NULL, NULL,"
                          f" toDateTime({int(now.timestamp()) - 60}, 'UTC'), NULL, NULL, 1")
            for alert_id, degree, deleted, version in (("a", 1, 0, 1), ("b", 2, 0, 1),
                                                       ("b", 2, 1, 2), ("c", 2, 0, 1)):
                session.query(f"INSERT INTO alerts ({ALERT_COLUMNS}) SELECT 'c1', '{alert_id}',"
                              f" '{alert_id}',"
                              f" {degree}, now(), '', [], '[]', now(), {deleted}, {version}")

            want = expected_figures(scans, since)
            hourly = reads.scans_per_hour(since, until)
            assert [(h.hour, h.scans, h.people) for h in hourly] == want.per_hour
            busiest = reads.busiest_venues(since)
            assert [(v.venue_id, v.name, v.scans) for v in busiest] == want.busiest
            cases = reads.open_cases(now - timedelta(days=21))
            assert (cases.count, cases.f1, cases.f2) == (1, 1, 1)
            assert [(c.case_id, c.f1, c.f2) for c in cases.newest] == [("c1", 1, 1)]
            by_day = reads.cases_by_day(now - timedelta(days=21))
            assert [(d.cases, d.f1, d.f2) for d in by_day] == [(1, 1, 1)]
            assert reads.alerts_by_venue_kind(now - timedelta(days=21)) == []
        finally:
            session.close()
