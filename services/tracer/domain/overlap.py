"""Rule 3: contact edges between visits at one venue, found without looking at all pairs.

Two visits ``[s1, e1]`` and ``[s2, e2]`` of different people overlap during
``[max(s1, s2), min(e1, e2)]``; they are in contact when that lasts at least ``min_overlap``
seconds (intervals are closed, so with ``min_overlap == 0`` touching visits are in contact).

Two ways to find them, both output-sensitive:

* :func:`contacts_among` sweeps one venue's visits in start order with the set of visits still
  long enough ahead — ``O(n log n + k)`` for ``n`` visits and ``k`` pairs.
* :class:`VisitIndex` answers "who overlaps this visit?" for a few changed visits against all the
  others (the incremental state's query). A start-sorted list bounds the candidates to those
  starting in ``[s - longest, e]``; with one list per *duration class* (durations within a factor
  of two) ``longest`` is that class's bound rather than ``max_dwell``, so one 12 h visit does not
  make every query scan twelve hours of one-hour visits.
"""

from __future__ import annotations

import heapq
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator

from services.tracer.domain.model import Contact, Visit

IndexedVisit = tuple[int, int, str]
"""``(start, end, person)`` of a visit at the index's venue; tuple order is start order."""

ContactKey = tuple[str, str, str, int, int]
"""``(venue_id, person_a, person_b, start, end)``: a :class:`Contact`'s fields as a plain tuple,
cheaper to build and hash in bulk; ``tuple.__new__(Contact, key)`` makes the value."""

# Durations below 2**_SMALLEST_CLASS seconds (about 17 min) share one class: a class per
# power of two down to one second would cost more bisects than the few candidates it saves.
_SMALLEST_CLASS = 10


def contacts_among(visits: Iterable[Visit], min_overlap: int) -> set[Contact]:
    """Every contact edge among one venue's visits, by a start-ordered sweep.

    Raises ``ValueError`` if the visits are of more than one venue.

    Example:
        >>> sorted(contacts_among([Visit("cafe", "bob", 0, 3_600),
        ...                        Visit("cafe", "ann", 1_800, 5_400),
        ...                        Visit("cafe", "cy", 3_000, 4_000)], min_overlap=900))
        [Contact(venue_id='cafe', person_a='ann', person_b='bob', start=1800, end=3600), \
Contact(venue_id='cafe', person_a='ann', person_b='cy', start=3000, end=4000)]
    """
    venue_ids = set()
    spans = []
    for visit in visits:
        venue_ids.add(visit.venue_id)
        spans.append((visit.start, visit.end, visit.person))
    if len(venue_ids) > 1:
        raise ValueError(f"contacts_among takes one venue's visits; got {sorted(venue_ids)}")
    if not venue_ids:
        return set()
    (venue_id,) = venue_ids
    return {Contact._make(key) for key in contact_keys_among(venue_id, spans, min_overlap)}


def contact_keys_among(
    venue_id: str, spans: Iterable[IndexedVisit], min_overlap: int
) -> set[ContactKey]:
    """:func:`contacts_among` on ``(start, end, person)`` tuples of the venue ``venue_id``."""
    keys: set[ContactKey] = set()
    # Heap of (end, start, person) of earlier-starting visits: once a visit ends before
    # `start + min_overlap` it cannot reach any later-starting visit, so it leaves for good.
    active: list[tuple[int, int, str]] = []
    for start, end, person in sorted(s for s in spans if s[1] - s[0] >= min_overlap):
        reach = start + min_overlap
        while active and active[0][0] < reach:
            heapq.heappop(active)
        # Every active visit started no later and ends at or after `reach`, and this one lasts
        # at least min_overlap: each pair of different people is an edge starting at `start`.
        for other_end, _other_start, other in active:
            if other != person:
                end_of_overlap = end if end < other_end else other_end
                if person < other:
                    keys.add((venue_id, person, other, start, end_of_overlap))
                else:
                    keys.add((venue_id, other, person, start, end_of_overlap))
        heapq.heappush(active, (end, start, person))
    return keys


class _DurationClass:
    """The visits of one duration class in start order, as three columns.

    Columns rather than a ``(start, end, person)`` tuple per visit: two machine integers and a
    reference are 24 bytes a visit, a tuple of two ints about 120 (the tracer holds one entry
    per visit in its hot window). Queries bisect the starts, which compares plain ints.
    Visits with one start are in no particular order among themselves.
    """

    __slots__ = ("ends", "people", "starts")

    def __init__(self, members: list[IndexedVisit]) -> None:
        members.sort()
        self.starts = array("q", [visit[0] for visit in members])
        self.ends = array("q", [visit[1] for visit in members])
        self.people = [visit[2] for visit in members]

    def __len__(self) -> int:
        return len(self.people)

    def add(self, visit: IndexedVisit) -> None:
        start, end, person = visit
        starts = self.starts
        if not starts or start >= starts[-1]:
            starts.append(start)
            self.ends.append(end)
            self.people.append(person)
            return
        at = bisect_right(starts, start)
        starts.insert(at, start)
        self.ends.insert(at, end)
        self.people.insert(at, person)

    def find(self, visit: IndexedVisit) -> int:
        """Position of ``visit``; -1 if it is not here."""
        start, end, person = visit
        starts, ends, people = self.starts, self.ends, self.people
        at = bisect_left(starts, start)
        count = len(starts)
        while at < count and starts[at] == start:
            if ends[at] == end and people[at] == person:
                return at
            at += 1
        return -1

    def pop(self, at: int) -> None:
        del self.starts[at]
        del self.ends[at]
        del self.people[at]

    def members(self) -> Iterator[IndexedVisit]:
        return zip(self.starts, self.ends, self.people, strict=True)


class VisitIndex:
    """One venue's visits, start-sorted per duration class, for "who overlaps this visit?".

    New visits are mostly recent, so they land at or near the end of their class and inserting
    them shifts little.

    Example:
        >>> index = VisitIndex("cafe")
        >>> index.add((0, 3_600, "bob")); index.add((40_000, 41_000, "cy"))
        >>> sorted(index.contacts_of(1_800, 5_400, "ann", min_overlap=900))
        [('cafe', 'ann', 'bob', 1800, 3600)]
    """

    __slots__ = ("_classes", "venue_id")

    def __init__(self, venue_id: str, visits: Iterable[IndexedVisit] = ()) -> None:
        self.venue_id = venue_id
        grouped: dict[int, list[IndexedVisit]] = {}
        for visit in visits:
            grouped.setdefault(self._longest_of(visit), []).append(visit)
        # longest duration of the class → its visits.
        self._classes: dict[int, _DurationClass] = {
            longest: _DurationClass(members) for longest, members in grouped.items()
        }

    @staticmethod
    def _longest_of(visit: IndexedVisit) -> int:
        """The bound of the visit's duration class: durations within a factor of two share one."""
        bits = (visit[1] - visit[0]).bit_length()
        return (1 << (bits if bits > _SMALLEST_CLASS else _SMALLEST_CLASS)) - 1

    def __len__(self) -> int:
        return sum(len(group) for group in self._classes.values())

    def __iter__(self) -> Iterator[IndexedVisit]:
        """The indexed visits, sorted."""
        return iter(sorted(v for group in self._classes.values() for v in group.members()))

    def add(self, visit: IndexedVisit) -> None:
        """Index one visit (the caller keeps visits unique)."""
        longest = self._longest_of(visit)
        group = self._classes.get(longest)
        if group is None:
            self._classes[longest] = _DurationClass([visit])
        else:
            group.add(visit)

    def remove(self, visit: IndexedVisit) -> None:
        """Drop one indexed visit; ``KeyError`` if it is not indexed."""
        longest = self._longest_of(visit)
        group = self._classes.get(longest)
        at = -1 if group is None else group.find(visit)
        if group is None or at < 0:
            raise KeyError(visit)
        group.pop(at)
        if not len(group):
            del self._classes[longest]

    def contacts_of(
        self,
        start: int,
        end: int,
        person: str,
        min_overlap: int,
        into: set[ContactKey] | None = None,
    ) -> set[ContactKey]:
        """Edges between the visit ``[start, end]`` of ``person`` and the indexed visits.

        Adds them to ``into`` (a new set if None) and returns it. The visit itself may be indexed:
        a person is never in contact with themselves.
        """
        found: set[ContactKey] = set() if into is None else into
        if end - start < min_overlap:
            return found
        add = found.add
        venue_id = self.venue_id
        reach = start + min_overlap
        last_start = end - min_overlap
        for longest, group in self._classes.items():
            if longest < min_overlap:
                continue
            # An overlap of min_overlap needs other_start <= end - min_overlap and
            # other_end >= start + min_overlap, so other_start >= start + min_overlap - longest.
            starts = group.starts
            low = bisect_left(starts, reach - longest)
            high = bisect_right(starts, last_start, low)
            if low == high:
                continue
            for other_start, other_end, other in zip(
                starts[low:high], group.ends[low:high], group.people[low:high], strict=True
            ):
                if other == person or other_end < reach:
                    continue
                overlap_start = start if start > other_start else other_start
                overlap_end = end if end < other_end else other_end
                if overlap_end - overlap_start >= min_overlap:
                    if person < other:
                        add((venue_id, person, other, overlap_start, overlap_end))
                    else:
                        add((venue_id, other, person, overlap_start, overlap_end))
        return found


def contacts_with(
    changed_visits: Iterable[Visit], index: VisitIndex, min_overlap: int
) -> set[Contact]:
    """Edges between each changed visit and the indexed visits of the same venue.

    Only visits that can overlap a changed one are looked at. Raises ``ValueError`` for a changed
    visit of another venue than the index's.

    Example:
        >>> index = VisitIndex("cafe", [(0, 3_600, "bob"), (0, 3_600, "ann")])
        >>> sorted(contacts_with([Visit("cafe", "ann", 3_000, 4_000)], index, min_overlap=600))
        [Contact(venue_id='cafe', person_a='ann', person_b='bob', start=3000, end=3600)]
    """
    keys: set[ContactKey] = set()
    for visit in changed_visits:
        if visit.venue_id != index.venue_id:
            raise ValueError(
                f"visit at {visit.venue_id!r} queried against the index of {index.venue_id!r}"
            )
        index.contacts_of(visit.start, visit.end, visit.person, min_overlap, keys)
    return {Contact._make(key) for key in keys}
