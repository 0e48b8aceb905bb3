"""A venue exposure event through the public HTTP API: venues and scans into ingest, the event
declared, corrected and withdrawn by an authority, its alerts read back from the alerts API —
equal to the brute-force rule 11."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from schemas.registry import Role
from services.alerts.api.views import CaseView
from services.core.config import Settings
from services.tracer.domain.model import VenueRules
from tests.reference.exposure import ReferenceEdge
from tests.reference.tracing import reference_contacts, reference_visits
from tests.reference.venue_events import ReferenceEvent, ReferenceVisit, reference_venue_alerts
from tests.support.citygen import messy_day
from tests.support.processes import ServiceProcess, running_http_service, wait_for
from tests.support.pseudonyms import pseudonym as keyed
from tests.support.pseudonyms import vn_mobile_e164
from tests.support.stack import grant, isolated_settings

pytestmark = pytest.mark.e2e

HOUR = 3600
VENUES = ("bar-e2e", "gym-e2e")
RULES = VenueRules()


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def raw_id(person_ref: str) -> str:
    return "09" + str(int(person_ref[:12], 16) % 10**8).zfill(8)


@pytest.fixture
def urls(stack: Settings, tmp_path: Path) -> Iterator[tuple[Settings, str, str, dict[Role, str]]]:
    settings = isolated_settings(stack, tmp_path).model_copy(update={"exposure_recheck_s": 0.5})
    tokens = {role: grant(settings, role) for role in (Role.ADMIN, Role.AUTHORITY)}
    ingest = f"http://{settings.ingest_host}:{settings.ingest_port}"
    alerts = f"http://{settings.alerts_host}:{settings.alerts_port}"
    with ExitStack() as running:
        running.enter_context(running_http_service("services.ingest", settings, ingest,
                                                   tmp_path / "ingest.log"))
        running.enter_context(running_http_service("services.alerts", settings, alerts,
                                                   tmp_path / "alerts-api.log"))
        for module in ("services.tracer", "services.alerts.worker"):
            worker = ServiceProcess(module, settings, tmp_path / f"{module}.log")
            running.callback(worker.stop)
        yield settings, ingest, alerts, tokens


def test_an_exposure_event_over_http_alerts_exactly_who_was_there(urls) -> None:
    settings, ingest, alerts, tokens = urls
    now = int(time.time())
    start = now - 40 * HOUR
    day = messy_day(7, venues=list(VENUES), people=60, start=start, hours=30)

    def pseudonym(raw: str) -> str:
        return keyed(settings, vn_mobile_e164(raw))

    seen = [replace(s, person=pseudonym(raw_id(s.person))) for s in day.scans]
    raw_of = {pseudonym(raw_id(s.person)): raw_id(s.person) for s in day.scans}
    visits = reference_visits(seen, lambda venue: RULES)
    contacts = reference_contacts(seen, lambda venue: RULES)
    admin = httpx.Client(base_url=ingest, timeout=30,
                         headers={"Authorization": f"Bearer {tokens[Role.ADMIN]}"})
    authority = httpx.Client(base_url=ingest, timeout=30,
                             headers={"Authorization": f"Bearer {tokens[Role.AUTHORITY]}"})
    reader = httpx.Client(base_url=alerts, timeout=30,
                          headers={"Authorization": f"Bearer {tokens[Role.AUTHORITY]}"})
    keys = {}
    for venue_id in VENUES:
        answer = admin.post("/v1/venues", json={"venue_id": venue_id, "name": venue_id,
                                                "kind": "restaurant"})
        assert answer.status_code == 201, answer.text
        keys[venue_id] = answer.json()["api_key"]
    body = {"event_id": "ev-http", "venue_id": VENUES[0], "start": iso(start + 2 * HOUR),
            "end": iso(start + 6 * HOUR), "message": "Quán bar: xét nghiệm ngay",
            "action": "test"}
    bad = authority.post("/v1/exposure-events", json={**body, "end": body["start"]})
    unknown = authority.post("/v1/exposure-events", json={**body, "venue_id": "nowhere"})
    never = authority.delete("/v1/exposure-events/ev-never")
    assert (bad.status_code, unknown.status_code, never.status_code) == (422, 404, 404)
    assert authority.post("/v1/exposure-events", json=body).status_code == 202
    for message in (m for wave in day.waves for m in wave):  # after the event: late visits
        payload = [{"event_id": s.event_id, "venue_id": s.venue_id,
                    "person_id": raw_id(s.person), "direction": s.direction,
                    "scanned_at": iso(s.at)} for s in message]
        answer = httpx.post(f"{ingest}/v1/scans", json=payload, timeout=30,
                            headers={"Authorization": f"Bearer {keys[message[0].venue_id]}"})
        assert answer.status_code == 202, answer.text
    # A correction: a wider window and the contacts of those present.
    body = {**body, "end": iso(start + 20 * HOUR), "with_contacts": True}
    answer = authority.post("/v1/exposure-events", json=body)
    assert answer.status_code == 202 and answer.json()["status"] == "declared"

    def reference() -> dict:
        served = reader.get("/v1/exposure-events/ev-http/alerts")
        declared_at = int(datetime.fromisoformat(served.json()["event"]["declared_at"])
                          .timestamp()) if served.status_code == 200 else now
        event = ReferenceEvent("ev-http", VENUES[0], start + 2 * HOUR, start + 20 * HOUR,
                               declared_at, 0, True)
        return reference_venue_alerts(
            event, [ReferenceVisit(v.visit_id, v.venue_id, v.person, v.start, v.end)
                    for v in visits], [ReferenceEdge.of(c) for c in contacts])

    def want() -> set[tuple[str, int, int, str | None]]:
        found = reference()
        view = CaseView(settings.read_secret, "ev-http")
        return {(view.person(p), a.degree, a.exposed_at, view.person(a.via) if a.via else None)
                for p, a in found.items()}

    def served() -> set[tuple[str, int, int, str | None]] | None:
        answer = reader.get("/v1/exposure-events/ev-http/alerts")
        if answer.status_code != 200 or answer.json()["event"]["with_contacts"] is not True:
            return None
        return {(a["person_id"], a["degree"],
                 int(datetime.fromisoformat(a["exposed_at"]).timestamp()), a["via_person_id"])
                for a in answer.json()["alerts"]}

    wait_for(lambda: served() == want(), 120, "the event's alerts to equal the reference", 1.0)
    expected = want()
    assert {d for _, d, _, _ in expected} == {1, 2}
    listed = reader.get("/v1/exposure-events/ev-http/alerts", params={"sort": "risk"}).json()
    scores = [a["risk_score"] for a in listed["alerts"]]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0
    assert all(a["presence"] for a in listed["alerts"] if a["degree"] == 1)

    # Status lookup by raw identifier (through ingest): present at the event is a venue
    # exposure of its own; a contact of someone present is an F2; nobody else is involved.
    found = reference()
    present = min(p for p, a in found.items() if a.degree == 1)
    contact = min(p for p, a in found.items() if a.degree == 2)

    def status(person: str) -> dict:
        answer = authority.post("/v1/people/status", json={"person_id": raw_of[person]})
        assert answer.status_code == 200, answer.text
        return answer.json()

    at_venue, as_f2 = status(present), status(contact)
    assert (at_venue["status"], at_venue["colour"]) == ("venue", "yellow")
    assert [(c["case_id"], c["role"]) for c in at_venue["cases"]] == [("ev-http", "venue")]
    assert datetime.fromisoformat(at_venue["earliest_exposure"]).timestamp() \
        == found[present].exposed_at
    assert (as_f2["status"], [c["role"] for c in as_f2["cases"]]) == ("F2", ["F2"])

    assert authority.delete("/v1/exposure-events/ev-http").status_code == 202
    wait_for(lambda: reader.get("/v1/exposure-events/ev-http/alerts").status_code == 410, 60,
             "the withdrawn event to be gone", 0.5)
    assert (status(present)["status"], status(present)["cases"]) == ("none", [])
