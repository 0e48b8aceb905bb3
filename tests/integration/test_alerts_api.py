"""The alerts API as a real process over the real ClickHouse and Kafka of the test stack.

Rows are written straight into ClickHouse and alerts straight onto the topic, as the tracer and
the alerts worker would, so these tests pin the API's reading of the stores — replaced and
retracted rows included — and the SSE stream's exact resume, independently of those workers.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import networkx as nx
import psutil
import pytest
from kafka import KafkaProducer
from pydantic import SecretStr
from rich.console import Console

from schemas.alerts import Alert, Exposure
from schemas.audit import AuditEntry
from schemas.common import Op
from schemas.registry import Role
from services.alerts.api import stream as stream_module
from services.alerts.api.views import CaseView
from services.alerts.queries import ClickHouseReads
from services.core.clickhouse import clickhouse_client
from services.core.config import Settings
from services.core.http.auth import token_id
from services.core.kafka_connection import kafka_options
from services.core.secrets import sha256_hex
from tests.conftest import _drop_stores
from tests.reliability.stores import read_records
from tests.support.processes import ServiceProcess, running_http_service, wait_for
from tests.support.stack import grant, isolated_settings
from truyvet.audit_command import audit
from truyvet.registry_commands import add_venue
from truyvet.trace_command import trace

READ_SECRET = "read-secret-of-the-alerts-api-test-module"
DAY = date(2026, 11, 20)
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
CASE = "case-alpha"
WITHDRAWN = "case-withdrawn"
GRAPH_VENUE = "cafe-graph"


def person(name: str) -> str:
    """A pseudonym-shaped id (64 hex) for a readable name."""
    return hashlib.sha256(name.encode()).hexdigest()


def seen(name: str, case_id: str = CASE) -> str:
    """The id an authority reading ``case_id`` is shown for the person ``name``."""
    return CaseView(SecretStr(READ_SECRET), case_id).person(person(name))


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


@dataclass(frozen=True)
class AlertsUnderTest:
    settings: Settings
    url: str
    tokens: dict[str, str]
    process: ServiceProcess

    def client(self, who: str | None = "authority", **headers: str) -> httpx.Client:
        token = self.tokens.get(who) if who else None
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers={**auth, **headers}, timeout=30)


# --- stored rows ---------------------------------------------------------------------------


def exposure(venue: str, other: str, start: int, end: int) -> dict[str, str]:
    return {"contact_id": f"k-{other[:6]}-{start}", "venue_id": venue, "other_person_id": other,
            "start": at(start).isoformat(), "end": at(end).isoformat()}


def alert_row(case_id: str, name: str, degree: int, exposed_min: int, via: str | None,
              venue: str, *, deleted: int = 0, version: int = 1) -> tuple[Any, ...]:
    other = person(via) if via else person("f0")
    exposures = [exposure(venue, other, exposed_min, exposed_min + 20)]
    return (case_id, f"alert-{case_id}-{name}", person(name), degree, at(exposed_min),
            person(via) if via else "", [venue], json.dumps(exposures), at(600), deleted, version)


def contact_row(venue: str, a: str, b: str, start_min: int, end_min: int, *, deleted: int = 0,
                version: int = 1, day: date = DAY) -> tuple[Any, ...]:
    start = datetime.combine(day, T0.timetz()) + timedelta(minutes=start_min)
    end = start + timedelta(minutes=end_min - start_min)
    cid = f"{venue}-{a}-{b}-{start_min}-{end_min}"
    return (start.date(), venue, start, end, cid, person(a), person(b), deleted, version)


ALERT_ROWS = [
    alert_row(CASE, "ann", 1, 10, None, "cafe-1"),
    alert_row(CASE, "bob", 1, 30, None, "cafe-1"),
    alert_row(CASE, "bob", 1, 20, None, "office-1", version=2),  # replaces bob's first row
    alert_row(CASE, "cy", 1, 15, None, "cafe-1"),
    alert_row(CASE, "cy", 1, 15, None, "cafe-1", deleted=1, version=2),  # retracted
    alert_row(CASE, "dan", 2, 40, "ann", "shop-1"),
    alert_row(CASE, "eve", 2, 35, "bob", "office-1"),
    alert_row("case-other", "fay", 1, 5, None, "cafe-1"),
    alert_row(WITHDRAWN, "gus", 1, 5, None, "cafe-1"),
    alert_row(WITHDRAWN, "gus", 1, 5, None, "cafe-1", deleted=1, version=2),
]

PAGED = "case-paged"
PAGED_PEOPLE = [f"p{i}" for i in range(7)]  # p0-p3 F1, p4-p6 F2 via p0


def paged_rows() -> list[tuple[Any, ...]]:
    rows = []
    for i, name in enumerate(PAGED_PEOPLE):
        degree, via = (1, None) if i < 4 else (2, "p0")
        row = list(alert_row(PAGED, name, degree, 10 * (i % 4), via, "cafe-1"))
        if name == "p5":  # nine exposures, more than a page shows
            row[7] = json.dumps([exposure("cafe-1", person("p0"), k, k + 20) for k in range(9)])
        rows.append(tuple(row))
    return rows


RISKY = "case-risky"
# (name, degree, exposed minute, risk_score, risk_level): ties on the score, in several degrees.
RISKY_ALERTS = [("r0", 1, 0, 4.5, "low"), ("r1", 1, 10, 21.0, "high"),
                ("r2", 2, 5, 21.0, "high"), ("r3", 1, 20, 7.25, "medium"),
                ("r4", 2, 1, 0.0, "low"), ("r5", 1, 30, 21.0, "high")]


def risky_rows() -> list[tuple[Any, ...]]:
    return [(*alert_row(RISKY, name, degree, minute, "r1" if degree == 2 else None, "cafe-1"),
             score, level) for name, degree, minute, score, level in RISKY_ALERTS]


CONTACT_ROWS = [
    contact_row(GRAPH_VENUE, "ann", "bob", 0, 30),
    contact_row(GRAPH_VENUE, "ann", "bob", 40, 55),
    contact_row(GRAPH_VENUE, "bob", "cy", 0, 20),
    contact_row(GRAPH_VENUE, "dan", "eve", 0, 15),
    contact_row(GRAPH_VENUE, "fay", "gus", 0, 60),
    contact_row(GRAPH_VENUE, "fay", "gus", 0, 60, deleted=1, version=2),  # retracted (rule 4)
    contact_row("other-venue", "ann", "zed", 0, 60),
    contact_row(GRAPH_VENUE, "ann", "zed", 0, 60, day=DAY + timedelta(days=1)),
]


def write_rows(settings: Settings) -> None:
    client = clickhouse_client(settings)
    try:
        client.execute(
            "INSERT INTO cases (case_id, person_id, status, onset_at, sampled_at, reported_at,"
            " isolated_at, withdrawn_at, version) VALUES",
            [
                (CASE, person("f0"), "reported", at(-24 * 60), None, at(600), None, None, 1),
                (WITHDRAWN, person("f9"), "reported", at(-60), None, at(600), None, None, 1),
                (WITHDRAWN, person("f9"), "withdrawn", at(-60), None, at(600), None, at(700), 2),
                (PAGED, person("f0"), "reported", at(-60), None, at(600), None, None, 1),
                (RISKY, person("f0"), "reported", at(-60), None, at(600), None, None, 1),
            ],
        )
        # Separate inserts, as separate worker batches would be: FINAL must merge across parts.
        for row in ALERT_ROWS + paged_rows():
            client.execute(
                "INSERT INTO alerts (case_id, alert_id, person_id, degree, exposed_at,"
                " via_person_id, venue_ids, exposures, created_at, deleted, version) VALUES",
                [row],
            )
        client.execute(
            "INSERT INTO alerts (case_id, alert_id, person_id, degree, exposed_at,"
            " via_person_id, venue_ids, exposures, created_at, deleted, version, risk_score,"
            " risk_level) VALUES", risky_rows())
        for row in CONTACT_ROWS:
            client.execute(
                "INSERT INTO contacts (day, venue_id, started_at, ended_at, contact_id, person_a,"
                " person_b, deleted, version) VALUES",
                [row],
            )
    finally:
        client.disconnect()


@pytest.fixture(scope="module")
def api(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertsUnderTest]:
    state_dir: Path = tmp_path_factory.mktemp("alerts-api")
    settings = isolated_settings(stack, state_dir).model_copy(
        update={"read_secret": SecretStr(READ_SECRET)})
    tokens = {role.value: grant(settings, role)
              for role in (Role.ADMIN, Role.AUTHORITY, Role.DASHBOARD, Role.NOTIFIER)}
    tokens["venue"] = add_venue(settings, name="A venue")["api_key"]
    add_venue(settings, name="Cà phê Graph", venue_id=GRAPH_VENUE)
    tokens["bogus"] = "tvt_not-a-token"
    write_rows(settings)
    url = f"http://{settings.alerts_host}:{settings.alerts_port}"
    try:
        with running_http_service("services.alerts", settings, url,
                                  state_dir / "alerts.log") as process:
            yield AlertsUnderTest(settings, url, tokens, process)
    finally:
        _drop_stores(settings)


# --- cases, alerts, chain ------------------------------------------------------------------


def test_alerts_are_exactly_the_latest_non_retracted_rows_of_the_case(api: AlertsUnderTest) -> None:
    with api.client() as http:
        answer = http.get(f"/v1/cases/{CASE}/alerts")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["case_id"] == CASE and body["status"] == "reported"
    by_person = {a["person_id"]: a for a in body["alerts"]}
    assert set(by_person) == {seen(n) for n in ("ann", "bob", "dan", "eve")}
    # F1 first, earliest exposure first.
    assert [a["person_id"] for a in body["alerts"]] == [
        seen("ann"), seen("bob"), seen("eve"), seen("dan")]
    bob = by_person[seen("bob")]
    assert bob == {
        "alert_id": f"alert-{CASE}-bob",
        "case_id": CASE,
        "person_id": seen("bob"),
        "degree": 1,
        "exposed_at": iso(at(20)),  # from the replacing row (version 2)
        "via_person_id": None,
        "venue_ids": ["office-1"],
        "exposures": [{"contact_id": f"k-{person('f0')[:6]}-20", "venue_id": "office-1",
                       "other_person_id": seen("f0"), "start": iso(at(20)),
                       "end": iso(at(40))}],
        "exposure_count": 1,
        "created_at": iso(at(600)),
        "risk_score": 0.0,  # written without one (before risk levels): reads as 0, low
        "risk_level": "low",
    }
    assert body["next_cursor"] is None
    dan = by_person[seen("dan")]
    assert dan["degree"] == 2 and dan["via_person_id"] == seen("ann")


def test_a_withdrawn_case_is_no_longer_readable(api: AlertsUnderTest) -> None:
    with api.client() as http:
        for path in (f"/v1/cases/{WITHDRAWN}/alerts", f"/v1/cases/{WITHDRAWN}/chain",
                     f"/v1/cases/{WITHDRAWN}/alerts/alert-{WITHDRAWN}-gus",
                     f"/v1/venues/{GRAPH_VENUE}/graph?date=2026-11-20&case={WITHDRAWN}"):
            answer = http.get(path)
            assert answer.status_code == 410, (path, answer.text)
            assert answer.json()["error"] == "withdrawn"


def audit_rows(settings: Settings, token: str) -> list[tuple[Any, ...]]:
    client = clickhouse_client(settings)
    try:
        return client.execute(
            "SELECT what, case_id, subject, people FROM audit WHERE token_id = %(t)s ORDER BY at",
            {"t": token_id(sha256_hex(token))})
    finally:
        client.disconnect()


def test_every_per_person_read_is_audited_with_the_token_id(api: AlertsUnderTest) -> None:
    token = grant(api.settings, Role.AUTHORITY)  # a reader of its own, to count its reads
    since = datetime.now(UTC) - timedelta(seconds=5)
    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {token}"},
                      timeout=30) as http:
        assert http.get(f"/v1/cases/{CASE}/alerts").status_code == 200
        assert http.get(f"/v1/cases/{CASE}/chain").status_code == 200
        assert http.get(f"/v1/venues/{GRAPH_VENUE}/graph",
                        params={"date": DAY.isoformat(), "case": CASE}).status_code == 200
        assert http.get(f"/v1/cases/{CASE}/alerts/alert-{CASE}-ann").status_code == 200
    # Times are to the second: several reads in one second are in no particular order.
    assert sorted(audit_rows(api.settings, token)) == sorted([
        ("case_alerts", CASE, "", 4), ("case_chain", CASE, "", 5),
        ("venue_graph", CASE, f"{GRAPH_VENUE} 2026-11-20", 5),
        ("case_alert", CASE, f"alert-{CASE}-ann", 1)])
    on_topic = [AuditEntry.model_validate_json(v or b"") for _, v, _, _ in
                read_records(api.settings, api.settings.topic("audit"))]
    assert [e.what for e in on_topic if e.token_id == token_id(sha256_hex(token))] == [
        "case_alerts", "case_chain", "venue_graph", "case_alert"]
    out = io.StringIO()
    console = Console(file=out, width=200, highlight=False, markup=False, color_system=None)
    assert audit(api.settings, since, console=console) == 0
    listed = [line for line in out.getvalue().splitlines()
              if token_id(sha256_hex(token)) in line]
    chain_line = next(line for line in listed if "read case_chain" in line)
    assert len(listed) == 4 and "5 people" in chain_line and CASE in chain_line


def test_cases_alerts_and_audit_rows_past_the_audit_period_are_purged(
    api: AlertsUnderTest,
) -> None:
    old = datetime.now(UTC).replace(microsecond=0) - timedelta(days=400)
    client = clickhouse_client(api.settings)
    try:
        client.execute("INSERT INTO cases (case_id, person_id, status, onset_at, sampled_at,"
                       " reported_at, isolated_at, withdrawn_at, version) VALUES",
                       [("case-ancient", person("f8"), "reported", old, None, old, None, None, 1)])
        client.execute("INSERT INTO alerts (case_id, alert_id, person_id, degree, exposed_at,"
                       " via_person_id, venue_ids, exposures, created_at, deleted, version) VALUES",
                       [("case-ancient", "alert-ancient", person("f7"), 1, old, "", ["v"], "[]",
                         old, 0, 1)])
        client.execute("INSERT INTO audit (day, at, audit_id, token_id, role, what, case_id,"
                       " subject, people) VALUES",
                       [(old.date(), old, "a-ancient", "t", "authority", "case_alerts",
                         "case-ancient", "", 1)])
        reads = ClickHouseReads(clickhouse_client(api.settings))
        try:
            dropped = reads.purge_audit_period(datetime.now(UTC) - timedelta(days=365),
                                               api.settings.clickhouse_database)
        finally:
            reads.close()
        assert f"audit:{old.date().isoformat()}" in dropped

        def left() -> list[int]:
            return [client.execute(f"SELECT count() FROM {table} WHERE case_id = 'case-ancient'")
                    [0][0] for table in ("cases", "alerts", "audit")]

        wait_for(lambda: left() == [0, 0, 0], 30, "the purge's mutations")
        assert client.execute(f"SELECT count() FROM cases WHERE case_id = '{CASE}'")[0][0] == 1
    finally:
        client.disconnect()


def test_the_chain_nests_f2_under_their_f1_with_times_and_venues(api: AlertsUnderTest) -> None:
    with api.client("authority") as http:
        answer = http.get(f"/v1/cases/{CASE}/chain")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["case_id"] == CASE and body["people"] == 5 and body["branches"] == 2
    assert body["next_cursor"] is None
    assert body["reported_at"] == iso(at(600))

    def shape(node: dict[str, Any]) -> tuple[Any, ...]:
        return (node["person"], node["degree"], node["exposed_at"], node["via"],
                node["venue_ids"], [shape(c) for c in node["children"]])

    assert shape(body["chain"]) == (
        seen("f0"), 0, None, None, [], [
            (seen("ann"), 1, iso(at(10)), None, ["cafe-1"], [
                (seen("dan"), 2, iso(at(40)), seen("ann"), ["shop-1"], []),
            ]),
            (seen("bob"), 1, iso(at(20)), None, ["office-1"], [
                (seen("eve"), 2, iso(at(35)), seen("bob"), ["office-1"], []),
            ]),
        ],
    )


def pages(http: httpx.Client, path: str, key: str, **params: Any) -> list[dict[str, Any]]:
    """Every page of a paged read, following ``next_cursor``."""
    found: list[dict[str, Any]] = []
    cursor = None
    for _ in range(50):
        answer = http.get(path, params={**params, **({"cursor": cursor} if cursor else {})})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        found.append(body)
        cursor = body["next_cursor"]
        if cursor is None:
            return found
    raise AssertionError("the cursor never ended")


def test_alerts_come_a_page_at_a_time_each_once_in_order(api: AlertsUnderTest) -> None:
    with api.client("authority") as http:
        whole = http.get(f"/v1/cases/{PAGED}/alerts").json()["alerts"]
        paged = pages(http, f"/v1/cases/{PAGED}/alerts", "alerts", limit=3)
    assert [len(p["alerts"]) for p in paged] == [3, 3, 1]
    listed = [a["alert_id"] for p in paged for a in p["alerts"]]
    assert listed == [a["alert_id"] for a in whole] and len(set(listed)) == 7
    assert [a["degree"] for a in whole] == [1, 1, 1, 1, 2, 2, 2]
    assert [a["exposed_at"] for a in whole[:4]] == [iso(at(m)) for m in (0, 10, 20, 30)]


def test_alert_pages_filter_by_degree_and_exposure_time(api: AlertsUnderTest) -> None:
    with api.client("authority") as http:
        f2 = http.get(f"/v1/cases/{PAGED}/alerts", params={"degree": 2}).json()["alerts"]
        window = http.get(f"/v1/cases/{PAGED}/alerts", params={
            "exposed_since": iso(at(10)), "exposed_until": iso(at(30))}).json()["alerts"]
    assert len(f2) == 3 and {a["degree"] for a in f2} == {2}
    assert sorted(a["exposed_at"] for a in window) == [iso(at(10)), iso(at(10)), iso(at(20)),
                                                       iso(at(20))]


def test_a_page_caps_exposures_and_the_alert_endpoint_has_them_all(api: AlertsUnderTest) -> None:
    alert_id = f"alert-{PAGED}-p5"
    with api.client("authority") as http:
        listed = http.get(f"/v1/cases/{PAGED}/alerts", params={"degree": 2}).json()["alerts"]
        full = http.get(f"/v1/cases/{PAGED}/alerts/{alert_id}")
        missing = http.get(f"/v1/cases/{PAGED}/alerts/alert-nobody")
    summary = next(a for a in listed if a["alert_id"] == alert_id)
    assert summary["exposure_count"] == 9 and len(summary["exposures"]) == 5
    assert full.status_code == 200, full.text
    assert full.json()["exposure_count"] == 9 and len(full.json()["exposures"]) == 9
    assert full.json()["exposures"][:5] == summary["exposures"]
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_the_chain_comes_a_page_of_f1_branches_at_a_time(api: AlertsUnderTest) -> None:
    with api.client("authority") as http:
        paged = pages(http, f"/v1/cases/{PAGED}/chain", "chain", limit=2)
        shallow = http.get(f"/v1/cases/{PAGED}/chain", params={"max_degree": 1}).json()
    branches = [child for p in paged for child in p["chain"]["children"]]
    assert [len(p["chain"]["children"]) for p in paged] == [2, 2]
    assert [b["person"] for b in branches] == [seen(n, PAGED) for n in ("p0", "p1", "p2", "p3")]
    assert len(branches[0]["children"]) == 3 and paged[0]["people"] == 8
    assert all(b["children"] == [] for b in shallow["chain"]["children"])


def test_alerts_sort_by_risk_on_request_a_page_at_a_time(api: AlertsUnderTest) -> None:
    with api.client("authority") as http:
        by_degree = http.get(f"/v1/cases/{RISKY}/alerts").json()["alerts"]
        paged = pages(http, f"/v1/cases/{RISKY}/alerts", "alerts", limit=2, sort="risk")
        degree_cursor = http.get(f"/v1/cases/{RISKY}/alerts",
                                 params={"limit": 2}).json()["next_cursor"]
        mixed = http.get(f"/v1/cases/{RISKY}/alerts",
                         params={"sort": "risk", "cursor": degree_cursor})
    by_risk = [a for p in paged for a in p["alerts"]]
    # Riskiest first; ties as the default order (degree, then exposure).
    assert [a["alert_id"].rsplit("-", 1)[1] for a in by_risk] == ["r1", "r5", "r2", "r3", "r0",
                                                                  "r4"]
    assert [(a["risk_score"], a["risk_level"]) for a in by_risk[:4]] == [
        (21.0, "high"), (21.0, "high"), (21.0, "high"), (7.25, "medium")]
    assert [a["degree"] for a in by_degree] == [1, 1, 1, 1, 2, 2]
    assert mixed.status_code == 422 and mixed.json()["error"] == "invalid_cursor"


@pytest.mark.parametrize("params", [{"limit": 10, "page": 2}, {"cursor": "bm9wZQ"},
                                    {"cursor": "not base64!"}, {"limit": 0},
                                    {"degree": 9}, {"exposed_since": "2026-11-20T08:00:00"}])
def test_unknown_or_bad_paging_parameters_are_422(api: AlertsUnderTest,
                                                  params: dict[str, Any]) -> None:
    with api.client("authority") as http:
        answer = http.get(f"/v1/cases/{PAGED}/alerts", params=params)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] in {"unknown_parameter", "invalid_cursor", "invalid"}


def test_an_unknown_case_is_404_with_a_json_body(api: AlertsUnderTest) -> None:
    with api.client() as http:
        for path in ("/v1/cases/no-such-case/alerts", "/v1/cases/no-such-case/chain"):
            answer = http.get(path)
            assert answer.status_code == 404
            assert answer.json()["error"] == "not_found"
            assert "no-such-case" in answer.json()["detail"]
        bad = http.get("/v1/cases/bad%20id/alerts")
        assert bad.status_code == 422 and bad.json()["error"] == "invalid"


# --- venue graphs --------------------------------------------------------------------------


def test_the_venue_graph_has_the_figures_of_its_current_contacts(api: AlertsUnderTest) -> None:
    with api.client() as http:
        answer = http.get(f"/v1/venues/{GRAPH_VENUE}/graph",
                          params={"date": DAY.isoformat(), "case": CASE})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["graph"] == {"venue_id": GRAPH_VENUE, "day": "2026-11-20"}
    assert {n["id"] for n in body["nodes"]} == {seen(n) for n in ("ann", "bob", "cy", "dan",
                                                                   "eve")}
    assert body["figures"] == {
        "people": 5,
        "contacts": 4,
        "pairs": 3,
        "clusters": 2,
        "largest_cluster": 3,
        "total_exposure_s": (30 + 15 + 20 + 15) * 60,
        "most_connected": [
            {"person": seen("bob"), "contacts": 2, "exposure_s": 65 * 60},
            {"person": seen("ann"), "contacts": 1, "exposure_s": 45 * 60},
            {"person": seen("cy"), "contacts": 1, "exposure_s": 20 * 60},
            *sorted(({"person": seen(n), "contacts": 1, "exposure_s": 15 * 60}
                     for n in ("dan", "eve")), key=lambda p: str(p["person"])),
        ],
    }
    pair = next(x for x in body["links"] if {x["source"], x["target"]} ==
                {seen("ann"), seen("bob")})
    assert pair["weight"] == 45 * 60 and pair["contacts"] == 2
    assert pair["intervals"][0] == {"start": iso(at(0)), "end": iso(at(30))}
    back = nx.node_link_graph(body, edges="links")
    assert back.number_of_edges() == 3


def test_the_venue_graph_as_graphml_parses_with_networkx(api: AlertsUnderTest) -> None:
    with api.client() as http:
        answer = http.get(f"/v1/venues/{GRAPH_VENUE}/graph.graphml",
                          params={"date": DAY.isoformat(), "case": CASE})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/graphml+xml")
    graph = nx.parse_graphml(answer.text)
    assert graph.number_of_nodes() == 5 and graph.number_of_edges() == 3
    data = graph.edges[seen("ann"), seen("bob")]
    assert data["weight"] == 45 * 60
    assert data["intervals"] == f"{iso(at(0))}/{iso(at(30))} {iso(at(40))}/{iso(at(55))}"


def test_a_venue_day_the_case_does_not_touch_is_refused(api: AlertsUnderTest) -> None:
    with api.client() as http:
        empty = http.get(f"/v1/venues/{GRAPH_VENUE}/graph",
                         params={"date": "2026-01-01", "case": CASE})
        # case-other's only person (fay) met nobody there that day: her contact was retracted.
        elsewhere = http.get(f"/v1/venues/{GRAPH_VENUE}/graph",
                             params={"date": DAY.isoformat(), "case": "case-other"})
        no_case = http.get(f"/v1/venues/{GRAPH_VENUE}/graph", params={"date": DAY.isoformat()})
    assert empty.status_code == 403 and "does not touch" in empty.json()["detail"]
    assert elsewhere.status_code in (403, 404), elsewhere.text
    assert no_case.status_code == 422


@pytest.mark.parametrize("bad", ["2026-13-01", "2026-02-30", "yesterday", "1763596800",
                                 "2026-1-5", "", None])
def test_bad_dates_are_422_json(api: AlertsUnderTest, bad: str | None) -> None:
    params = {"case": CASE} if bad is None else {"date": bad, "case": CASE}
    with api.client() as http:
        for suffix in ("graph", "graph.graphml"):
            answer = http.get(f"/v1/venues/{GRAPH_VENUE}/{suffix}", params=params)
            assert answer.status_code == 422, (bad, answer.text)
            problem = answer.json()
            assert problem["error"] == "invalid" and problem["errors"][0]["loc"][-1] == "date"


# --- roles ---------------------------------------------------------------------------------

PERSON_PATHS = [
    f"/v1/cases/{CASE}/alerts",
    f"/v1/cases/{CASE}/alerts/alert-{CASE}-ann",
    f"/v1/cases/{CASE}/chain",
    f"/v1/venues/{GRAPH_VENUE}/graph?date=2026-11-20&case={CASE}",
    f"/v1/venues/{GRAPH_VENUE}/graph.graphml?date=2026-11-20&case={CASE}",
]
ROLE_STATUS = [(None, 401), ("bogus", 401), ("venue", 403), ("dashboard", 403),
               ("notifier", 403), ("admin", 403), ("authority", 200)]


def status_of(api: AlertsUnderTest, who: str | None, path: str) -> int:
    with api.client(who) as http, http.stream("GET", path) as answer:
        if answer.status_code != 200:
            answer.read()
            problem = answer.json()
            assert problem["error"] == {401: "unauthorized", 403: "forbidden"}[answer.status_code]
            assert problem["detail"]
        return answer.status_code


@pytest.mark.parametrize("path", PERSON_PATHS)
def test_per_person_reads_admit_authority_only(api: AlertsUnderTest, path: str) -> None:
    assert {who: status_of(api, who, path) for who, _ in ROLE_STATUS} == dict(ROLE_STATUS)


def test_the_live_stream_with_stable_pseudonyms_is_for_the_notifier_only(
    api: AlertsUnderTest,
) -> None:
    wanted = {who: 403 for who in ("venue", "dashboard", "authority", "admin")}
    found = {who: status_of(api, who, "/v1/alerts/stream?from=end") for who in wanted}
    assert found == wanted and status_of(api, "notifier", "/v1/alerts/stream") == 200


def test_the_dashboard_reads_aggregates_with_no_pseudonym_and_small_counts_suppressed(
    api: AlertsUnderTest,
) -> None:
    with api.client("dashboard") as http:
        answer = http.get("/v1/figures")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["open_cases"]["cases"] is None
    assert re.search(r"[0-9a-f]{64}", answer.text) is None, "a pseudonym reached the dashboard"
    # Three open cases (CASE, PAGED, RISKY): fewer than 5, suppressed; their 10 F1 alerts
    # are shown.
    assert body["open_cases"]["count"] is None and body["open_cases"]["f1"] == 10
    assert all(k["alerts"] is None or k["alerts"] >= 5 for k in body["alerts_by_venue_kind"])
    with api.client("authority") as http:
        listed = http.get("/v1/figures").json()["open_cases"]["cases"]
    assert person("f0") not in {c["person_id"] for c in listed}


def test_one_person_in_two_cases_has_two_unrelated_ids(api: AlertsUnderTest) -> None:
    """F0 of both CASE and PAGED is the other side of their F1 exposures: never the same id."""
    with api.client("authority") as http:
        one = http.get(f"/v1/cases/{CASE}/alerts", params={"degree": 1}).json()["alerts"]
        two = http.get(f"/v1/cases/{PAGED}/alerts", params={"degree": 1}).json()["alerts"]
        chains = [http.get(f"/v1/cases/{c}/chain").json()["chain"]["person"]
                  for c in (CASE, PAGED)]
    ids_one = {e["other_person_id"] for a in one for e in a["exposures"]}
    ids_two = {e["other_person_id"] for a in two for e in a["exposures"]}
    assert len(ids_one) == len(ids_two) == 1 and ids_one.isdisjoint(ids_two)
    assert ids_one == {chains[0]} and ids_two == {chains[1]} and person("f0") not in chains


def test_the_stream_replays_nothing_older_than_the_retention_horizon(
    api: AlertsUnderTest,
) -> None:
    run = uuid.uuid4().hex[:6]
    old, new = make_alert(f"old-{run}", "ann"), make_alert(f"new-{run}", "ann")
    month_ago_ms = int((time.time() - 30 * 86_400) * 1000)
    produce(api.settings, [old], timestamp_ms=month_ago_ms)
    produce(api.settings, [new])
    with api.client("notifier") as http, stream(http, params={"from": "beginning"}) as response:
        events = EventReader(response)
        seen_ids: set[str] = set()
        deadline = time.monotonic() + 30
        while new.alert_id not in seen_ids:
            assert time.monotonic() < deadline, "the replay did not reach the new alert"
            event = events.next()
            if event.event == "alert":
                seen_ids.add(Alert.model_validate_json(event.data).alert_id)
    assert old.alert_id not in seen_ids


def test_health_openapi_and_dashboard_page_need_no_token(api: AlertsUnderTest) -> None:
    with api.client(None) as http:
        assert http.get("/healthz").json() == {"status": "ok"}
        doc = http.get("/openapi.json").json()
        assert doc["info"]["title"] == "truyvet alerts"
        for path in ("/v1/cases/{case_id}/alerts", "/v1/cases/{case_id}/chain",
                     "/v1/venues/{venue_id}/graph", "/v1/venues/{venue_id}/graph.graphml",
                     "/v1/alerts/stream"):
            assert path in doc["paths"]
        page = http.get("/")
        assert page.status_code == 200 and "truyvet dashboard" in page.text


# --- the SSE stream ------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    event: str
    id: str | None
    data: str


class EventReader:
    """Reads SSE events off a streaming httpx response, with a deadline per wait."""

    def __init__(self, response: httpx.Response) -> None:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        self._lines = response.iter_lines()

    def next(self) -> Event:
        fields: dict[str, str] = {}
        for line in self._lines:
            if line == "":
                if "data" in fields:
                    return Event(fields.get("event", "message"), fields.get("id"), fields["data"])
                fields.clear()  # a comment (heartbeat) or retry-only block
                continue
            if line.startswith(":"):
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        raise AssertionError("the stream ended")

    def alerts(self, count: int, timeout_s: float = 30) -> list[Event]:
        """The next ``count`` alert events (other event types are kept out)."""
        deadline = time.monotonic() + timeout_s
        found: list[Event] = []
        while len(found) < count:
            assert time.monotonic() < deadline, f"got {len(found)} of {count} alerts in time"
            event = self.next()
            if event.event == "alert":
                found.append(event)
        return found


def stream(http: httpx.Client, **kwargs: Any) -> Any:
    """The alert stream, for the client of ``api.client("notifier")``."""
    # The read timeout only has to outlast the 15 s heartbeat; every wait also has a deadline.
    return http.stream("GET", "/v1/alerts/stream", timeout=httpx.Timeout(30, read=20), **kwargs)


def make_alert(case_id: str, name: str, op: Op = Op.UPSERT) -> Alert:
    return Alert(
        op=op, alert_id=f"alert-{case_id}-{name}", case_id=case_id, person_id=person(name),
        degree=1, exposed_at=T0, venue_ids=["cafe-1"],
        exposures=[Exposure(contact_id="k1", venue_id="cafe-1", other_person_id=person("f0"),
                            start=T0, end=at(20))],
        created_at=at(600),
    )


def produce(settings: Settings, alerts: list[Alert], raw: tuple[bytes, ...] = (),
            timestamp_ms: int | None = None) -> None:
    producer = KafkaProducer(**kafka_options(settings), acks="all",
                             enable_idempotence=True)
    try:
        futures = [producer.send(settings.topic("alerts"), key=a.case_id.encode(),
                                 value=a.model_dump_json().encode(), timestamp_ms=timestamp_ms)
                   for a in alerts]
        futures += [producer.send(settings.topic("alerts"), key=b"junk", value=v) for v in raw]
        producer.flush(timeout=30)
        for future in futures:
            future.get(timeout=30)
    finally:
        producer.close(timeout=10)


def test_the_stream_delivers_new_alerts_and_resumes_exactly_from_last_event_id(
    api: AlertsUnderTest,
) -> None:
    run = uuid.uuid4().hex[:6]
    # Many cases, so the keys spread over all four partitions of the alerts topic.
    first = [make_alert(f"live-{run}-{i}", "ann") for i in range(12)]
    second = [make_alert(f"live-{run}-{i}", "bob") for i in range(12, 20)]
    with api.client("notifier") as http:
        with stream(http) as response:
            events = EventReader(response)
            ready = events.next()
            assert ready.event == "ready" and ready.id is not None
            assert len(ready.id.split(",")) == 4  # every partition in every id
            produce(api.settings, first)
            got = events.alerts(5)
            resume_id = got[-1].id
        # Disconnected after 5 of 12. More are published while the client is away.
        produce(api.settings, second)
        assert resume_id is not None
        with stream(http, headers={"Last-Event-ID": resume_id}) as response:
            events = EventReader(response)
            assert events.next().event == "ready"
            rest = events.alerts(len(first) + len(second) - 5)
    delivered = [Alert.model_validate_json(e.data).alert_id for e in got + rest]
    expected = [a.alert_id for a in first + second]
    assert sorted(delivered) == sorted(expected), "an alert was repeated or skipped"
    assert len(set(delivered)) == len(delivered)
    # Only the new alerts: nothing from before the first connection.
    assert all(a.startswith(f"alert-live-{run}-") for a in delivered)


def test_a_stream_resumed_from_its_ready_event_misses_nothing_sent_while_away(
    api: AlertsUnderTest,
) -> None:
    run = uuid.uuid4().hex[:6]
    away = [make_alert(f"away-{run}-{i}", "cy") for i in range(6)]
    with api.client("notifier") as http:
        with stream(http) as response:
            ready = EventReader(response).next()
        produce(api.settings, away)
        assert ready.id is not None
        with stream(http, headers={"Last-Event-ID": ready.id}) as response:
            got = EventReader(response).alerts(len(away))
    assert sorted(Alert.model_validate_json(e.data).alert_id for e in got) == sorted(
        a.alert_id for a in away)


def test_from_beginning_replays_the_topic_including_retractions_and_junk(
    api: AlertsUnderTest,
) -> None:
    run = uuid.uuid4().hex[:6]
    upsert = make_alert(f"replay-{run}", "dan")
    retract = make_alert(f"replay-{run}", "dan", Op.RETRACT)
    produce(api.settings, [upsert, retract], raw=(b"{not an alert",))
    with api.client("notifier") as http, stream(http, params={"from": "beginning"}) as response:
        events = EventReader(response)
        assert events.next().event == "ready"
        mine: list[Alert] = []
        undecodable: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while len(mine) < 2 or not undecodable:
            assert time.monotonic() < deadline, "the replay did not reach this test's alerts"
            event = events.next()
            if event.event == "undecodable":
                undecodable.append(json.loads(event.data))
            elif event.event == "alert":
                alert = Alert.model_validate_json(event.data)
                if alert.case_id == f"replay-{run}":
                    mine.append(alert)
    assert [a.op for a in mine] == [Op.UPSERT, Op.RETRACT]
    assert {"partition", "offset", "reason"} <= set(undecodable[0])


def test_a_client_leaving_closes_its_streams_kafka_connections(api: AlertsUnderTest) -> None:
    kafka_port = int(api.settings.kafka_bootstrap.rsplit(":", 1)[1])

    def kafka_connections() -> int:
        connections = psutil.Process(api.process.proc.pid).net_connections(kind="tcp")
        return sum(1 for c in connections
                   if c.raddr and c.raddr.port == kafka_port and c.status == "ESTABLISHED")

    def open_streams(http: httpx.Client) -> int:
        # The gauge drops once a stream's consumer has stopped (AlertFeed.close).
        for line in http.get("/metrics").text.splitlines():
            if line.startswith("truyvet_sse_clients "):
                return int(float(line.split()[1]))
        raise AssertionError("no truyvet_sse_clients on /metrics")

    with api.client("notifier") as http:
        with stream(http) as response:  # warm-up: the service's own clients are connected
            assert EventReader(response).next().event == "ready"
        wait_for(lambda: open_streams(http) == 0, 15, "the warm-up stream's consumer to stop")
        wait_for(lambda: kafka_connections() > 0, 10, "the service's Kafka clients")
        baseline = kafka_connections()
        with ExitStack() as streams:
            # Readers kept: dropping httpx's line iterator closes its response.
            readers = [EventReader(streams.enter_context(stream(http))) for _ in range(3)]
            assert all(reader.next().event == "ready" for reader in readers)
            wait_for(lambda: kafka_connections() >= baseline + 3, 10,
                     "a Kafka connection per open stream")
        wait_for(lambda: kafka_connections() <= baseline, 15,
                 "the streams' consumers to close after the clients left")
        assert api.process.alive()


def test_a_token_holds_a_few_streams_and_another_token_still_gets_one(
    api: AlertsUnderTest,
) -> None:
    other = grant(api.settings, Role.NOTIFIER)
    with api.client("notifier") as http, ExitStack() as streams:
        readers = [EventReader(streams.enter_context(stream(http)))
                   for _ in range(stream_module.MAX_STREAMS_PER_TOKEN)]
        assert all(reader.next().event == "ready" for reader in readers)
        refused = http.get("/v1/alerts/stream")
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"] == "too_many_requests" and refused.headers["Retry-After"]
        with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {other}"},
                          timeout=30) as second, stream(second) as response:
            assert EventReader(response).next().event == "ready"
    # All closed: the token's slots are free again.
    with api.client("notifier") as http:
        wait_for(lambda: _opens(http), 15, "a slot freed")


def _opens(http: httpx.Client) -> bool:
    with stream(http) as response:
        return response.status_code == 200


@pytest.mark.parametrize("bad", ["nonsense", "0:1,0:2", "0:-1", "99:0", "0:1;1:2",
                                 "²:1", "0:²", "0:9223372036854775808", "0:" + "9" * 30])
def test_a_malformed_last_event_id_is_422(api: AlertsUnderTest, bad: str) -> None:
    # Header bytes are read as Latin-1: b"\xb2" arrives as "²", a digit to str.isdigit().
    with api.client("notifier") as http:
        answer = http.get("/v1/alerts/stream", headers={"Last-Event-ID": bad.encode("latin-1")})
    assert answer.status_code == 422
    assert answer.json()["error"] == "invalid_last_event_id"


# --- truyvet trace -------------------------------------------------------------------------


def test_trace_prints_the_alerts_table_and_the_chain(api: AlertsUnderTest) -> None:
    out = io.StringIO()
    console = Console(file=out, width=160, highlight=False, markup=False, color_system=None)
    assert trace(api.settings, CASE, console=console) == 0
    text = out.getvalue()
    for name in ("ann", "bob", "dan", "eve"):
        assert person(name)[:12] in text
    assert person("cy")[:12] not in text  # retracted
    assert "2 F1, 2 F2" in text and "shop-1" in text
    tree = text[text.rindex("F0 " + person("f0")[:12]):]  # the root, after the table
    assert tree.index(person("ann")[:12]) < tree.index(person("dan")[:12]) < tree.index(
        person("bob")[:12]) < tree.index(person("eve")[:12])


def test_trace_of_an_unknown_case_says_so_and_fails(api: AlertsUnderTest) -> None:
    out = io.StringIO()
    console = Console(file=out, width=160, color_system=None)
    assert trace(api.settings, "no-such-case", console=console) == 1
    assert "no case 'no-such-case' is known" in out.getvalue()


def test_trace_json_is_one_document_of_the_case_its_alerts_and_chain(
    api: AlertsUnderTest, capsys: pytest.CaptureFixture[str],
) -> None:
    assert trace(api.settings, CASE, as_json=True) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["case"]["case_id"] == CASE and document["counts"] == {"F1": 2, "F2": 2}
    assert {a["person_id"] for a in document["alerts"]} == {
        person(n) for n in ("ann", "bob", "dan", "eve")}
    assert document["chain"]["person"] == person("f0")
    assert {child["person"] for child in document["chain"]["children"]} == {
        person("ann"), person("bob")}


def test_the_graph_of_a_venue_nobody_registered_is_404(api: AlertsUnderTest) -> None:
    with api.client("authority") as http:
        answer = http.get("/v1/venues/nowhere-venue/graph", params={"date": "2026-11-20",
                                                                    "case": CASE})
    assert answer.status_code == 404, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["detail"] == "no venue 'nowhere-venue' is registered"


# --- a venue's own hourly visitor counts ---------------------------------------------------


def test_a_venue_key_reads_its_own_hourly_counts_in_local_time_and_nothing_else(
    api: AlertsUnderTest,
) -> None:
    own = add_venue(api.settings, name="Quán Visitors", venue_id=f"visits-{uuid.uuid4().hex[:6]}")
    vid = own["venue_id"]
    ict = timezone(timedelta(hours=7))

    def row(n: int, local: datetime) -> tuple[Any, ...]:
        moment = local.astimezone(UTC)
        return (moment.date(), vid, f"e-{n}", person(f"visitor-{n % 8}"), "in", moment, "", moment,
                1)

    def local(day: int, hour: int, minute: int) -> datetime:
        return datetime(2026, 11, day, hour, minute, tzinfo=ict)

    rows = [row(n, local(20, 8, 5 + n)) for n in range(6)]  # six people at 08:xx
    rows += [row(10 + n, local(20, 10, n)) for n in range(2)]  # two at 10:xx
    rows.append(row(20, local(20, 23, 30)))  # local 11-20, UTC 16:30 that day
    rows.append(row(21, local(21, 0, 30)))  # the next local day, UTC still 11-20
    rows.append(row(22, local(19, 23, 30)))  # the local day before
    client = clickhouse_client(api.settings)
    try:
        client.execute("INSERT INTO scans (day, venue_id, event_id, person_id, direction,"
                       " scanned_at, gate, ingested_at, version) VALUES", rows)
    finally:
        client.disconnect()

    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {own['api_key']}"},
                      timeout=30) as venue:
        answer = venue.get(f"/v1/venues/{vid}/visitors", params={"date": "2026-11-20"})
        foreign = venue.get(f"/v1/venues/{GRAPH_VENUE}/visitors", params={"date": "2026-11-20"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["name"], body["timezone"], body["min_group"]) == (
        "Quán Visitors", "Asia/Ho_Chi_Minh", 5)
    hours = {h["start"]: (h["scans"], h["visitors"]) for h in body["hours"]}
    assert len(hours) == 24 and body["hours"][0]["start"] == "2026-11-20T00:00:00+07:00"
    assert hours["2026-11-20T08:00:00+07:00"] == (6, 6)
    assert hours["2026-11-20T10:00:00+07:00"] == (None, None)  # two: too few to show
    assert hours["2026-11-20T23:00:00+07:00"] == (None, None)
    assert hours["2026-11-20T09:00:00+07:00"] == (0, 0)
    assert body["scans"] == 9  # 6 + 2 + 1: the next and the previous local day are not in it
    assert person("visitor-1") not in answer.text
    assert foreign.status_code == 403

    with api.client("dashboard") as http:
        assert http.get(f"/v1/venues/{vid}/visitors",
                        params={"date": "2026-11-20"}).json()["scans"] == 9
        assert http.get("/v1/venues/nowhere/visitors").status_code == 404
    with api.client("notifier") as http:
        assert http.get(f"/v1/venues/{vid}/visitors").status_code == 403
