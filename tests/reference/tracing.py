"""Brute-force reference of rules 1-3: scans → visits → contact edges, as literally as possible.

Every integration test compares the pipeline's output with this, so it favours being obviously
right over being fast: it de-duplicates the whole set, pairs each person's scans by looking at
their neighbours (not with the state machine the fast code uses), and compares all pairs of
visits.

The choices the rules leave open, which the fast code (``services/tracer/domain``) makes too:

* Rule 1: an ``event_id`` is unique within a venue; of several scans with the same
  (venue, event_id) the first in scan order counts.
* Scan order: by time; at the same second ``out`` before ``in``; same person, venue, second and
  direction is one scan (a double scan).
* Rule 2: an ``out`` closes the visit of the ``in`` right before it; any other ``out`` makes
  ``[out - default_dwell, out]``. Visits end at most ``max_dwell`` after they start.
* Rule 3: overlaps are of closed intervals, at least ``min_overlap`` long.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from itertools import combinations
from typing import NamedTuple, Protocol

# The ids' namespaces, derived here from the names the domain documents rather than imported.
_VISIT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://truyvet.invalid/visits")
_CONTACT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://truyvet.invalid/contacts")


class Scan(Protocol):
    """What the reference reads of a scan (the domain's ``Scan`` has these fields)."""

    @property
    def event_id(self) -> str: ...
    @property
    def venue_id(self) -> str: ...
    @property
    def person(self) -> str: ...
    @property
    def direction(self) -> str: ...
    @property
    def at(self) -> int: ...


class Rules(Protocol):
    """What the reference reads of a venue's rules, in seconds."""

    @property
    def default_dwell(self) -> int: ...
    @property
    def max_dwell(self) -> int: ...
    @property
    def min_overlap(self) -> int: ...


class Visit(NamedTuple):
    """The reference's visit; equal to the domain's visit of the same fields (both are tuples)."""

    venue_id: str
    person: str
    start: int
    end: int

    @property
    def visit_id(self) -> str:
        name = "\x1f".join(map(str, self))
        return str(uuid.uuid5(_VISIT_NAMESPACE, name))


class Contact(NamedTuple):
    """The reference's contact edge, ``person_a`` < ``person_b``; equal to the domain's."""

    venue_id: str
    person_a: str
    person_b: str
    start: int
    end: int

    @property
    def contact_id(self) -> str:
        name = "\x1f".join(map(str, self))
        return str(uuid.uuid5(_CONTACT_NAMESPACE, name))


RulesForVenue = Mapping[str, Rules] | Callable[[str], Rules]


def _rules_of(rules_for_venue: RulesForVenue, venue_id: str) -> Rules:
    if isinstance(rules_for_venue, Mapping):
        return rules_for_venue[venue_id]
    return rules_for_venue(venue_id)


def _scan_order(scan: Scan) -> tuple[int, int, str]:
    return (scan.at, 0 if scan.direction == "out" else 1, scan.person)


def reference_scans(scans: Iterable[Scan]) -> list[Scan]:
    """Rule 1: one scan per (venue, event_id), the first in scan order."""
    copies: dict[tuple[str, str], list[Scan]] = {}
    for scan in scans:
        copies.setdefault((scan.venue_id, scan.event_id), []).append(scan)
    return [min(same_id, key=_scan_order) for same_id in copies.values()]


def reference_visits(scans: Iterable[Scan], rules_for_venue: RulesForVenue) -> set[Visit]:
    """Rules 1-2 on a whole set of scans, any venues and persons."""
    moments_of: dict[tuple[str, str], set[tuple[int, int]]] = {}
    for scan in reference_scans(scans):
        rank = 0 if scan.direction == "out" else 1
        moments_of.setdefault((scan.venue_id, scan.person), set()).add((scan.at, rank))
    visits: set[Visit] = set()
    for (venue_id, person), distinct in moments_of.items():
        rules = _rules_of(rules_for_venue, venue_id)
        dwell = rules.default_dwell
        moments = sorted(distinct)
        for i, (at, rank) in enumerate(moments):
            following = moments[i + 1] if i + 1 < len(moments) else None
            previous = moments[i - 1] if i > 0 else None
            if rank == 1:  # in
                if following is None:
                    start, end = at, at + dwell
                elif following[1] == 0:  # the next scan is an out: it closes this visit
                    start, end = at, following[0]
                else:  # the next scan is another in: whichever comes first
                    start, end = at, min(at + dwell, following[0])
            else:  # out
                if previous is not None and previous[1] == 1:
                    continue  # it closed the visit of the in before it
                start, end = at - dwell, at
            visits.add(Visit(venue_id, person, start, min(end, start + rules.max_dwell)))
    return visits


def reference_contacts_of_visits(
    visits: Iterable[tuple[str, str, int, int]], rules_for_venue: RulesForVenue
) -> set[Contact]:
    """Rule 3 by comparing every pair of visits (venue, person, start, end) at the same venue."""
    contacts: set[Contact] = set()
    for first, second in combinations(sorted({Visit(*v) for v in visits}), 2):
        if first.venue_id != second.venue_id or first.person == second.person:
            continue
        start = max(first.start, second.start)
        end = min(first.end, second.end)
        if end - start >= _rules_of(rules_for_venue, first.venue_id).min_overlap:
            person_a, person_b = sorted((first.person, second.person))
            contacts.add(Contact(first.venue_id, person_a, person_b, start, end))
    return contacts


def reference_contacts(scans: Iterable[Scan], rules_for_venue: RulesForVenue) -> set[Contact]:
    """Rules 1-3 on a whole set of scans: every contact edge."""
    return reference_contacts_of_visits(reference_visits(scans, rules_for_venue), rules_for_venue)
