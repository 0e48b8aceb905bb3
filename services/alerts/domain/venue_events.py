"""Venue exposure events (rule 11): everyone present at a venue during a declared window.

An authority declares a venue and a window ``[start, end]`` at ``declared_at``. Every person with
a visit there that overlaps the window by at least ``min_presence_s`` (0: any overlap of positive
length) gets an alert of kind ``venue``, degree 1, exposed at ``max(visit.start, start)`` (the
earliest over their qualifying visits). With ``with_contacts`` their contacts become degree 2 by
rule 7 with ``declared_at`` in place of ``reported_at``, and so on up to ``max_degree``.

Boundaries, taken from the rule text like the case search's (:mod:`.exposure`):

- Overlap is ``min(visit.end, end) - max(visit.start, start)`` seconds; with ``min_presence_s``
  0 it must be positive (touching the window at one instant is no presence), otherwise at least
  ``min_presence_s``.
- Degree k+1: ``edge.end > exposure of the degree-k person`` and ``edge.start < declared_at``,
  exposure ``max(edge.start, that exposure)``, the earliest over such edges, ``via_person`` the
  degree-k person giving it (the smallest id on a tie); each person at their lowest degree.

The alerts are a function of the event and the current visits and contacts only, so the engine
recomputes an event whenever they may have changed and publishes the difference: late visits
add alerts, corrections and withdrawals retract exactly what no longer holds.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from services.alerts.domain.errors import DomainError
from services.alerts.domain.exposure import EdgesOf
from services.alerts.domain.model import Alert, ContactEdge, Exposure  # noqa: F401 (doctest)
from services.alerts.domain.risk import DEFAULT_RISK, RiskWeights, weighted_minutes

# uuid5(NAMESPACE_URL, "https://truyvet.invalid/venue-alerts"), written out like the case
# alerts' namespace: a venue alert never shares an id with a case alert of the same id.
VENUE_ALERT_NAMESPACE = uuid.UUID("f5f7a7d1-0b5e-5a3c-9a0b-3a5b0b6f2c61")
VENUE = "venue"
ACTIONS = ("inform", "test", "isolate")


class InvalidVenueEventError(DomainError):
    """An exposure event that cannot alert anyone as declared."""


def venue_alert_id(event_id: str, person: str) -> str:
    """The deterministic id of the alert of ``person`` for the event ``event_id``.

    Example:
        >>> a = venue_alert_id("ev1", "p1")
        >>> a == venue_alert_id("ev1", "p1") != venue_alert_id("ev1", "p2")
        True
    """
    return str(uuid.uuid5(VENUE_ALERT_NAMESPACE, f"{event_id}\x1f{person}"))


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueEvent:
    """A declared exposure event. Epoch seconds, like every domain time."""

    event_id: str
    venue_id: str
    start: int
    end: int
    declared_at: int
    message: str = ""
    action: str = "inform"
    min_presence_s: int = 0
    with_contacts: bool = False

    def __post_init__(self) -> None:
        if not self.event_id or not self.venue_id:
            raise InvalidVenueEventError("an exposure event needs an event_id and a venue_id")
        if self.start >= self.end:
            raise InvalidVenueEventError(
                f"exposure event {self.event_id}: start {self.start} is not before end {self.end}")
        if self.min_presence_s < 0:
            raise InvalidVenueEventError(
                f"exposure event {self.event_id}: min_presence_s must be >= 0")
        if self.action not in ACTIONS:
            raise InvalidVenueEventError(
                f"exposure event {self.event_id}: action must be one of {', '.join(ACTIONS)}")

    def presence(self, visit_start: int, visit_end: int) -> int | None:
        """Seconds a visit overlaps the window if that makes its person present, else None."""
        overlap = min(visit_end, self.end) - max(visit_start, self.start)
        if overlap <= 0 or overlap < self.min_presence_s:
            return None
        return overlap


@dataclass(frozen=True, slots=True)
class Visit:
    """A visit (rule 2) as the tracer stores it."""

    visit_id: str
    venue_id: str
    person: str
    start: int
    end: int


VisitsAt = Callable[[str, int, int], Iterable[Visit]]
"""``visits_at(venue_id, since, until)``: the current visits of the venue overlapping
``[since, until]``. Returning more (other venues, other times, duplicates) is harmless."""


def present(event: VenueEvent, visits: Iterable[Visit]) -> dict[str, list[Exposure]]:
    """Who was present, each with the parts of their visits inside the window (as exposures
    whose ``contact_id`` is the visit and whose ``other_person`` is empty: no one else)."""
    found: dict[str, dict[str, Exposure]] = {}
    for visit in visits:
        if visit.venue_id != event.venue_id or event.presence(visit.start, visit.end) is None:
            continue
        found.setdefault(visit.person, {})[visit.visit_id] = Exposure(
            visit.visit_id, visit.venue_id, "", max(visit.start, event.start),
            min(visit.end, event.end))
    return {person: sorted(parts.values(), key=Exposure.timeline_key)
            for person, parts in found.items()}


def trace_event(event: VenueEvent, visits_at: VisitsAt, edges_of: EdgesOf, max_degree: int = 2,
                risk: RiskWeights = DEFAULT_RISK) -> list[Alert]:
    """Every alert of ``event``, ordered by degree, exposure time, then person.

    Example:
        >>> h = 3600
        >>> event = VenueEvent(event_id="ev1", venue_id="bar", start=10 * h, end=12 * h,
        ...                    declared_at=20 * h, with_contacts=True)
        >>> visits = [Visit("v1", "bar", "ann", 9 * h, 11 * h), Visit("v2", "bar", "bob", 12 * h,
        ...           13 * h)]  # bob only touches the window's end
        >>> edges = [ContactEdge("k1", "gym", "ann", "cy", 15 * h, 16 * h)]
        >>> alerts = trace_event(event, lambda v, s, u: visits, lambda p, s, u: edges)
        >>> [(a.person, a.degree, a.exposed_at // h, a.via_person, a.risk_score) for a in alerts]
        [('ann', 1, 10, None, 60.0), ('cy', 2, 15, 'ann', 0.0)]
    """
    if max_degree < 1:
        raise InvalidVenueEventError(f"max_degree must be >= 1, got {max_degree}")
    reached: dict[str, tuple[int, int, str | None, list[Exposure]]] = {}
    for person, parts in present(event, visits_at(event.venue_id, event.start, event.end)).items():
        reached[person] = (1, parts[0].start, None, parts)
    layer = set(reached)
    degree = 1
    while event.with_contacts and layer and degree < max_degree:
        since = min(reached[p][1] for p in layer)
        offers: dict[str, list[tuple[int, str, Exposure]]] = {}
        seen: set[str] = set()
        for edge in edges_of(set(layer), since, event.declared_at):
            if edge.contact_id in seen:
                continue
            seen.add(edge.contact_id)
            for exposer, person in ((edge.person_a, edge.person_b),
                                    (edge.person_b, edge.person_a)):
                if exposer not in layer or person in reached:
                    continue
                exposer_at = reached[exposer][1]
                if edge.end > exposer_at and edge.start < event.declared_at:
                    offers.setdefault(person, []).append((
                        max(edge.start, exposer_at), exposer,
                        Exposure(edge.contact_id, edge.venue_id, exposer, edge.start, edge.end)))
        degree += 1
        for person, found in offers.items():
            at, via, _ = min(found, key=lambda o: (o[0], o[1]))
            reached[person] = (degree, at, via,
                               sorted((x for _, _, x in found), key=Exposure.timeline_key))
        layer = set(offers)
    alerts = [_alert(event, person, *how, risk) for person, how in reached.items()]
    alerts.sort(key=lambda a: (a.degree, a.exposed_at, a.person))
    return alerts


def _alert(event: VenueEvent, person: str, degree: int, exposed_at: int, via: str | None,
           exposures: list[Exposure], risk: RiskWeights) -> Alert:
    # Presence minutes weigh 1.0 each (an event has no onset); a contact after the event is
    # scored by nothing the event knows, so an F2 of an event scores 0 and sorts last.
    score = weighted_minutes(((e.start, e.end) for e in exposures), None,
                             (event.start, event.end), risk) if degree == 1 else 0.0
    return Alert(
        alert_id=venue_alert_id(event.event_id, person),
        case_id=event.event_id,
        person=person,
        degree=degree,
        exposed_at=exposed_at,
        via_person=via,
        venue_ids=tuple(sorted({e.venue_id for e in exposures})),
        exposures=tuple(exposures),
        risk_score=score,
        risk_level=risk.level_of(score).value,
    )
