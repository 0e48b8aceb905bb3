"""Venue exposure events (rule 11) against the brute-force reference, in any arrival order."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.alerts.domain import ContactEdge
from services.alerts.domain.venue_engine import EventEngine
from services.alerts.domain.venue_events import (
    InvalidVenueEventError,
    VenueEvent,
    Visit,
    trace_event,
    venue_alert_id,
)
from tests.reference.exposure import ReferenceEdge
from tests.reference.venue_events import ReferenceEvent, ReferenceVisit, reference_venue_alerts

H = 3600
PERSONS = [f"p{i}" for i in range(7)]
TIMES = st.integers(min_value=0, max_value=48 * 4).map(lambda q: q * 900)


@st.composite
def events(draw: st.DrawFn) -> VenueEvent:
    start, end = sorted(draw(st.lists(TIMES, min_size=2, max_size=2, unique=True)))
    return VenueEvent(event_id="ev", venue_id="bar", start=start, end=end,
                      declared_at=draw(TIMES), action=draw(st.sampled_from(["inform", "test"])),
                      min_presence_s=draw(st.sampled_from([0, 900, 3600])),
                      with_contacts=draw(st.booleans()))


@st.composite
def visit_lists(draw: st.DrawFn) -> list[Visit]:
    found = []
    for i in range(draw(st.integers(min_value=0, max_value=10))):
        start, end = sorted((draw(TIMES), draw(TIMES)))
        found.append(Visit(f"v{i}", draw(st.sampled_from(["bar", "bar", "gym"])),
                           draw(st.sampled_from(PERSONS)), start, end))
    return found


@st.composite
def edge_lists(draw: st.DrawFn) -> list[ContactEdge]:
    found = []
    for i in range(draw(st.integers(min_value=0, max_value=10))):
        a, b = draw(st.lists(st.sampled_from(PERSONS), min_size=2, max_size=2, unique=True))
        start, end = sorted((draw(TIMES), draw(TIMES)))
        found.append(ContactEdge(f"k{i}", "gym", a, b, start, end))
    return found


def expected(event: VenueEvent, visits: list[Visit], edges: list[ContactEdge],
             max_degree: int) -> dict[str, tuple[object, ...]]:
    return {p: tuple(r) for p, r in reference_venue_alerts(
        ReferenceEvent.of(event), [ReferenceVisit.of(v) for v in visits],
        [ReferenceEdge.of(e) for e in edges], max_degree).items()}


def summary(alerts: dict[str, object] | list) -> dict[str, tuple[object, ...]]:
    items = alerts.values() if isinstance(alerts, dict) else alerts
    return {a.person: (a.degree, a.exposed_at, a.via_person,
                       tuple(sorted(e.contact_id for e in a.exposures))) for a in items}


@settings(max_examples=150, deadline=None)
@given(event=events(), visits=visit_lists(), edges=edge_lists(),
       max_degree=st.integers(min_value=1, max_value=3))
def test_trace_event_equals_the_brute_force(event: VenueEvent, visits: list[Visit],
                                            edges: list[ContactEdge], max_degree: int) -> None:
    alerts = trace_event(event, lambda v, s, u: visits, lambda p, s, u: edges, max_degree)
    assert summary(alerts) == expected(event, visits, edges, max_degree)
    for alert in alerts:
        assert alert.alert_id == venue_alert_id("ev", alert.person)
        assert alert.case_id == "ev"


@settings(max_examples=80, deadline=None)
@given(event=events(), correction=events(), visits=visit_lists(), edges=edge_lists(),
       seed=st.randoms(use_true_random=False), paused=st.booleans())
def test_late_visits_corrections_and_pauses_converge_to_the_reference(
        event: VenueEvent, correction: VenueEvent, visits: list[Visit],
        edges: list[ContactEdge], seed: random.Random, paused: bool) -> None:
    """Visits and contacts arrive in random batches around a declaration and a correction,
    possibly while paused; what was published (upserts minus retractions) ends equal to the
    reference on the whole data, and a withdrawal retracts all of it."""
    engine = EventEngine(max_degree=2)
    arrived_visits: list[Visit] = []
    arrived_edges: list[ContactEdge] = []
    published: dict[str, object] = {}

    def apply(changes: object) -> None:
        for alert, _ in changes.upserts:
            published[alert.alert_id] = alert
        for alert, _ in changes.retractions:
            assert published.pop(alert.alert_id) == alert

    def visits_at(venue: str, since: int, until: int) -> list[Visit]:
        return list(arrived_visits)

    def edges_of(persons: set[str], since: int, until: int) -> list[ContactEdge]:
        return list(arrived_edges)

    pending = [("v", v) for v in visits] + [("e", e) for e in edges]
    seed.shuffle(pending)
    cut = seed.randint(0, len(pending))
    for kind, item in pending[:cut]:
        (arrived_visits if kind == "v" else arrived_edges).append(item)  # type: ignore[arg-type]
    apply(engine.declare(event, visits_at, edges_of, now=0, paused=paused))
    for kind, item in pending[cut:]:
        (arrived_visits if kind == "v" else arrived_edges).append(item)  # type: ignore[arg-type]
        if not paused and engine.touched_by({"bar", "gym"}, set()):
            apply(engine.recompute("ev", visits_at, edges_of, now=1))
    if not paused:
        assert summary(published) == expected(event, visits, edges, 2)
    apply(engine.declare(correction, visits_at, edges_of, now=2, paused=paused))
    if paused:  # resumed: one re-trace publishes everything held back
        assert published == {}
        apply(engine.recompute("ev", visits_at, edges_of, now=3))
    assert summary(published) == expected(correction, visits, edges, 2)
    apply(engine.withdraw("ev"))
    assert published == {} and "ev" not in engine.events


def test_presence_boundaries_and_minimum() -> None:
    event = VenueEvent(event_id="ev", venue_id="bar", start=10 * H, end=12 * H,
                       declared_at=13 * H, min_presence_s=1800)
    visits = [Visit("a", "bar", "ann", 11 * H + 1800, 14 * H),  # 30 min: enough
              Visit("b", "bar", "bob", 11 * H + 1801, 14 * H),  # a second short
              Visit("c", "bar", "cy", 12 * H, 13 * H),  # touches the end only
              Visit("d", "gym", "dan", 10 * H, 12 * H)]  # another venue
    alerts = trace_event(event, lambda v, s, u: visits, lambda p, s, u: [])
    assert [(a.person, a.exposed_at, a.risk_score, a.risk_level) for a in alerts] == [
        ("ann", 11 * H + 1800, 30.0, "high")]
    anywhere = VenueEvent(event_id="ev", venue_id="bar", start=10 * H, end=12 * H,
                          declared_at=13 * H)
    assert {a.person for a in trace_event(anywhere, lambda v, s, u: visits,
                                          lambda p, s, u: [])} == {"ann", "bob"}


@pytest.mark.parametrize(("fields", "message"), [
    ({"start": 5, "end": 5}, "not before end"),
    ({"min_presence_s": -1}, "min_presence_s"),
    ({"action": "panic"}, "inform, test, isolate"),
    ({"venue_id": ""}, "venue_id"),
])
def test_bad_events_are_refused(fields: dict[str, object], message: str) -> None:
    given = {"event_id": "ev", "venue_id": "bar", "start": 0, "end": 10, "declared_at": 10,
             **fields}
    with pytest.raises(InvalidVenueEventError, match=message):
        VenueEvent(**given)  # type: ignore[arg-type]


def test_the_audit_lists_exposure_declarations_and_withdrawals() -> None:
    from datetime import UTC, datetime

    from schemas.exposure_events import ExposureDeclared, ExposureWithdrawn
    from truyvet.audit_command import _case_line

    at = datetime(2026, 12, 3, 8, tzinfo=UTC)
    declared = ExposureDeclared(event_id="ev1", venue_id="bar", start=at, end=at.replace(hour=9),
                                declared_at=at, declared_by="tok1")
    withdrawn = ExposureWithdrawn(event_id="ev1", withdrawn_at=at, withdrawn_by="tok2")
    lines = [line for message in (declared, withdrawn)
             for line in _case_line(message.model_dump_json().encode(), 0)]
    assert [(x.what, x.token_id, x.case_id) for x in lines] == [
        ("declare exposure event", "tok1", "ev1"), ("withdraw exposure event", "tok2", "ev1")]
