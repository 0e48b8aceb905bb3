"""The whole pipeline through its public HTTP API: venues and scans into ingest, cases from an
authority, alerts read back from the alerts API — equal to the brute-force rules 1–8."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from schemas.registry import Role
from services.alerts.api.views import CaseView
from services.alerts.domain.model import Case
from services.core.config import Settings
from services.core.directory import AuthorityPrivateKey
from services.tracer.domain.model import Scan, VenueRules
from tests.reference.tracing import reference_contacts
from tests.support.citygen import messy_day
from tests.support.pipeline import expected_alerts
from tests.support.processes import ServiceProcess, running_http_service, wait_for
from tests.support.pseudonyms import pseudonym as keyed
from tests.support.pseudonyms import vn_mobile_e164
from tests.support.stack import grant, isolated_settings
from truyvet.directory_commands import open_contacts

pytestmark = pytest.mark.e2e

HOUR = 3600
VENUE_KINDS = {"office-e2e": "office", "market-e2e": "market", "clinic-e2e": "clinic"}
RULES = VenueRules()  # venues registered with the defaults
AUTHORITY_KEY = AuthorityPrivateKey.generate()  # the authority's, kept here: never on a server


@dataclass
class Pipeline:
    settings: Settings
    ingest: str
    alerts: str
    admin: str
    authority: str
    dashboard: str
    workers: list[ServiceProcess]

    def http(self, base: str, token: str) -> httpx.Client:
        return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"},
                            timeout=30)


@pytest.fixture
def pipeline(stack: Settings, tmp_path: Path) -> Iterator[Pipeline]:
    settings = isolated_settings(stack, tmp_path,
                                 authority_public_keys=AUTHORITY_KEY.public.configured())
    tokens = {role: grant(settings, role) for role in (Role.ADMIN, Role.AUTHORITY, Role.DASHBOARD)}
    ingest = f"http://{settings.ingest_host}:{settings.ingest_port}"
    alerts = f"http://{settings.alerts_host}:{settings.alerts_port}"
    with ExitStack() as running:
        running.enter_context(running_http_service("services.ingest", settings, ingest,
                                                   tmp_path / "ingest.log"))
        running.enter_context(running_http_service("services.alerts", settings, alerts,
                                                   tmp_path / "alerts-api.log"))
        workers = [ServiceProcess("services.tracer", settings, tmp_path / "tracer.log"),
                   ServiceProcess("services.alerts.worker", settings, tmp_path / "alerts.log")]
        for worker in workers:
            running.callback(worker.stop)
        yield Pipeline(settings, ingest, alerts, tokens[Role.ADMIN], tokens[Role.AUTHORITY],
                       tokens[Role.DASHBOARD], workers)


def raw_id(person_ref: str) -> str:
    """A phone-number-like raw identifier standing for a generated person."""
    return "09" + str(int(person_ref[:12], 16) % 10**8).zfill(8)


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def test_scans_and_cases_over_http_give_exactly_the_reference_alerts(pipeline: Pipeline) -> None:
    p = pipeline
    now = int(time.time())
    start = now - 40 * HOUR
    day = messy_day(41, venues=list(VENUE_KINDS), people=90, start=start, hours=30)

    def pseudonym(raw: str) -> str:
        return keyed(p.settings, vn_mobile_e164(raw))

    # What the pipeline will see: the generated people, pseudonymised by ingest.
    seen = [replace(s, person=pseudonym(raw_id(s.person))) for s in day.scans]
    contacts = reference_contacts(seen, lambda venue: RULES)
    degree: dict[str, int] = {}
    for c in contacts:
        for person in (c.person_a, c.person_b):
            degree[person] = degree.get(person, 0) + 1
    raw_of = {pseudonym(raw_id(s.person)): raw_id(s.person) for s in day.scans}
    f0_early, f0_late, f0_withdrawn = sorted(degree, key=lambda x: (-degree[x], x))[:3]

    with p.http(p.ingest, p.admin) as admin:
        keys = {}
        for venue_id, kind in VENUE_KINDS.items():
            answer = admin.post("/v1/venues", json={"venue_id": venue_id, "name": venue_id,
                                                    "kind": kind})
            assert answer.status_code == 201, answer.text
            keys[venue_id] = answer.json()["api_key"]

    def push(messages: list[list[Scan]]) -> None:
        for message in messages:
            venue_id = message[0].venue_id
            body = [{"event_id": s.event_id, "venue_id": venue_id, "person_id": raw_id(s.person),
                     "direction": s.direction, "scanned_at": iso(s.at)} for s in message]
            with p.http(p.ingest, keys[venue_id]) as venue:
                answer = venue.post("/v1/scans", json=body)
            assert answer.status_code == 202, answer.text
            assert answer.json()["refused"] == []

    def report(case_id: str, f0: str) -> Case:
        case = Case(case_id=case_id, person=f0, onset_at=start + 18 * HOUR, reported_at=now - 30)
        with p.http(p.ingest, p.authority) as authority:
            answer = authority.post("/v1/cases", json={
                "case_id": case_id, "person_id": raw_of[f0], "onset_at": iso(start + 18 * HOUR),
                "reported_at": iso(now - 30)})
        assert answer.status_code == 202, answer.text
        return case

    on_time, late = day.waves
    early = report("e2e-early", f0_early)  # reported before any scan
    push(on_time)
    push(late)  # gates that were offline upload hours late
    late_case = report("e2e-late", f0_late)
    report("e2e-withdrawn", f0_withdrawn)
    with p.http(p.ingest, p.authority) as authority:
        assert authority.delete("/v1/cases/e2e-withdrawn").status_code == 202

    expected = {"e2e-early": expected_alerts(early, contacts),
                "e2e-late": expected_alerts(late_case, contacts), "e2e-withdrawn": set()}
    assert expected["e2e-early"] and expected["e2e-late"]

    def served(case_id: str) -> set[tuple[str, int, int, str | None]] | None:
        with p.http(p.alerts, p.authority) as authority:
            answer = authority.get(f"/v1/cases/{case_id}/alerts", params={"limit": 1000})
        if answer.status_code == 410:  # withdrawn: its alerts are no longer readable
            return set()
        if answer.status_code != 200:
            return None
        return {(a["person_id"], a["degree"],
                 int(datetime.fromisoformat(a["exposed_at"]).timestamp()), a["via_person_id"])
                for a in answer.json()["alerts"]}

    def as_read(case_id: str, alerts: set[tuple[str, int, int, str | None]]
                ) -> set[tuple[str, int, int, str | None]]:
        """The alerts with every person in the case's own ids, as an authority reads them."""
        view = CaseView(p.settings.read_secret, case_id)
        return {(view.person(who), d, t, view.person(via) if via else None)
                for who, d, t, via in alerts}

    def settled() -> bool:
        for worker in p.workers:
            assert worker.alive(), worker.log_tail()
        return all(served(cid) == as_read(cid, want) for cid, want in expected.items())

    wait_for(settled, 180, "the alerts API to serve exactly the reference alerts", 1.0)

    with p.http(p.alerts, p.authority) as authority:
        chain = authority.get("/v1/cases/e2e-early/chain").json()["chain"]
    view = CaseView(p.settings.read_secret, "e2e-early")
    assert chain["person"] == view.person(f0_early)
    f1 = {view.person(person) for person, d, _, _ in expected["e2e-early"] if d == 1}
    assert {child["person"] for child in chain["children"]} == f1

    # Issue 16: each case's contact list, opened with the authority's key, gives exactly the
    # raw ids (in their one spelling) of its F1 and F2; with another key it gives none.
    other = AuthorityPrivateKey.generate()
    for case_id in ("e2e-early", "e2e-late"):
        truth = {vn_mobile_e164(raw_of[person]) for person, _, _, _ in expected[case_id]}

        def listing(case: str = case_id) -> str | None:
            with p.http(p.alerts, p.authority) as authority:
                answer = authority.get(f"/v1/cases/{case}/contacts.csv")
            assert answer.status_code == 200, answer.text
            opened = open_contacts(answer.text, {AUTHORITY_KEY.public.key_id: AUTHORITY_KEY})
            return answer.text if opened.opened == len(opened.rows) else None

        wait_for(lambda: listing() is not None, 60, "every contact's sealed identifier", 0.5)
        text = listing()
        assert text is not None
        opened = open_contacts(text, {AUTHORITY_KEY.public.key_id: AUTHORITY_KEY})
        assert {row["identifier"] for row in opened.rows} == truth
        assert len(opened.rows) == len(truth)
        assert {row["risk_level"] for row in opened.rows} <= {"low", "medium", "high"}
        assert not any(raw[1:] in text for raw in raw_of.values())
        assert open_contacts(text, {other.public.key_id: other}).opened == 0
