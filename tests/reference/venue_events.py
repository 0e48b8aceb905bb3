"""Brute-force rule 11: who a venue exposure event alerts, at which degree, when, through whom.

Naive on purpose: every visit is checked against the window on its own, presence being the
length of the intersection of the two intervals, and each further degree loops over every
contact, as rule 7 reads with ``declared_at`` in place of ``reported_at``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from tests.reference.exposure import ReferenceEdge


class ReferenceEvent(NamedTuple):
    event_id: str
    venue_id: str
    start: int
    end: int
    declared_at: int
    min_presence_s: int
    with_contacts: bool

    @classmethod
    def of(cls, event: object) -> ReferenceEvent:
        return cls(*(getattr(event, name) for name in cls._fields))


class ReferenceVisit(NamedTuple):
    visit_id: str
    venue_id: str
    person: str
    start: int
    end: int

    @classmethod
    def of(cls, visit: object) -> ReferenceVisit:
        return cls(*(getattr(visit, name) for name in cls._fields))


class ReferenceVenueAlert(NamedTuple):
    degree: int
    exposed_at: int
    via: str | None
    ids: tuple[str, ...]  # the visits (degree 1) or contacts (beyond) behind the alert


def seconds_inside(start: int, end: int, low: int, high: int) -> int:
    """Length of [start, end] ∩ [low, high] (0 if they do not meet or only touch)."""
    inside = [t for t in (start, end, low, high) if start <= t <= end and low <= t <= high]
    return max(inside) - min(inside) if inside else 0


def reference_venue_alerts(event: ReferenceEvent, visits: Iterable[ReferenceVisit],
                           edges: Iterable[ReferenceEdge],
                           max_degree: int = 2) -> dict[str, ReferenceVenueAlert]:
    result: dict[str, ReferenceVenueAlert] = {}
    for person in sorted({v.person for v in visits}):
        qualifying = []
        for v in set(visits):
            if v.person != person or v.venue_id != event.venue_id:
                continue
            seconds = seconds_inside(v.start, v.end, event.start, event.end)
            if seconds > 0 and seconds >= event.min_presence_s:
                qualifying.append(v)
        if qualifying:
            result[person] = ReferenceVenueAlert(
                1, min(max(v.start, event.start) for v in qualifying), None,
                tuple(sorted(v.visit_id for v in qualifying)))
    if not event.with_contacts:
        return result
    unique = set(edges)
    for degree in range(2, max_degree + 1):
        found: dict[str, list[tuple[int, str, str]]] = {}
        for e in unique:
            for a, b in ((e.person_a, e.person_b), (e.person_b, e.person_a)):
                if a in result and result[a].degree == degree - 1 and b not in result:
                    exposed = result[a].exposed_at
                    if e.end > exposed and e.start < event.declared_at:
                        found.setdefault(b, []).append((max(e.start, exposed), a, e.contact_id))
        for person, offers in found.items():
            at, via = min((t, v) for t, v, _ in offers)
            result[person] = ReferenceVenueAlert(degree, at, via,
                                                 tuple(sorted(c for _, _, c in offers)))
    return result
