"""Rules 1-2: de-duplicate scans by ``event_id`` and pair one person's scans into visits.

Order of scans. One (venue, person)'s scans are read in *scan order*: by time, and at the same
second an ``out`` before an ``in``. So a same-second out + in reads as leaving and coming back
(the old visit closes, a new one opens), never as a zero-length visit. Several scans of the same
person, venue, second and direction are one scan (a double scan of the QR code, whatever their
event ids): read twice, two ``in`` would open a zero-length visit and two ``out`` would invent a
visit of ``default_dwell`` before the second one.

Pairing (rule 2), walking the moments in scan order with at most one visit open:

* ``in``: closes the open visit, if any, at ``min(open + default_dwell, this in)``; opens a visit.
* ``out``: closes the open visit at this time; with none open, makes ``[out - default_dwell, out]``.
* after the last moment, an open visit closes at ``open + default_dwell``.

Every visit then ends at most ``max_dwell`` after its start (its end is clipped), and identical
visits are one visit.

Inside the domain a moment is the tuple ``(at, rank)`` with :data:`OUT_RANK` < :data:`IN_RANK`,
so that plain tuple order is scan order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from services.tracer.domain.errors import InvalidScanError
from services.tracer.domain.model import Direction, Scan, VenueRules, Visit

OUT_RANK = 0
IN_RANK = 1
DIRECTION_RANK = {"out": OUT_RANK, "in": IN_RANK}
RANK_DIRECTION: tuple[Direction, Direction] = ("out", "in")

Moment = tuple[int, int]
"""``(at, rank)``: one distinct scan of a person at a venue; tuple order is scan order."""

Span = tuple[int, int]
"""``(start, end)`` of a visit whose venue and person are known from context."""


def scan_order_key(scan: Scan) -> tuple[int, int, str]:
    """The order that decides both pairing ties and which of two same-id scans counts (rule 1).

    Example:
        >>> sorted(["in", "out"], key=lambda d: scan_order_key(Scan("e", "v", "p", d, 5)))
        ['out', 'in']
    """
    return (scan.at, direction_rank(scan), scan.person)


def direction_rank(scan: Scan) -> int:
    """The rank of a scan's direction, refusing anything but ``"in"`` and ``"out"``."""
    try:
        return DIRECTION_RANK[scan.direction]
    except KeyError:
        raise InvalidScanError(
            f"scan {scan.event_id!r} has direction {scan.direction!r}; expected 'in' or 'out'"
        ) from None


def dedup_by_event_id(scans: Iterable[Scan]) -> list[Scan]:
    """Rule 1: one scan per (venue, event_id) — the first in scan order when copies differ.

    Event ids are chosen by each venue's scanners, so they are unique within a venue only; two
    venues reusing an id are two scans. Keeping the first in scan order (time, out before in,
    person) makes the answer independent of which copy arrived first.

    Example:
        >>> late = Scan("e1", "cafe", "ann", "in", 50)
        >>> early = Scan("e1", "cafe", "ann", "in", 40)
        >>> [s.at for s in dedup_by_event_id([late, early, late])]
        [40]
    """
    kept: dict[tuple[str, str], Scan] = {}
    for scan in scans:
        key = (scan.venue_id, scan.event_id)
        seen = kept.get(key)
        if seen is None or scan_order_key(scan) < scan_order_key(seen):
            kept[key] = scan
    return list(kept.values())


def pair_moments(moments: Sequence[Moment], default_dwell: int, max_dwell: int) -> tuple[Span, ...]:
    """Rule 2 on one person's distinct moments at one venue, sorted in scan order.

    Returns the visits as ``(start, end)`` spans, sorted and distinct. This is the hot path of
    the tracer state, hence plain tuples (which the garbage collector also stops tracking, unlike
    lists: the state keeps one per person).

    Example:
        >>> pair_moments([(0, IN_RANK), (600, OUT_RANK), (9_000, OUT_RANK)], 3_600, 43_200)
        ((0, 600), (5400, 9000))
    """
    if len(moments) == 1:  # most people scan once or twice at a venue
        at, rank = moments[0]
        if rank == IN_RANK:
            return ((at, at + min(default_dwell, max_dwell)),)
        start = at - default_dwell
        return ((start, min(at, start + max_dwell)),)
    spans: list[Span] = []
    append = spans.append
    open_at: int | None = None
    for at, rank in moments:
        if rank == IN_RANK:
            if open_at is not None:
                end = open_at + default_dwell
                if at < end:
                    end = at
                append((open_at, min(end, open_at + max_dwell)))
            open_at = at
        elif open_at is not None:
            append((open_at, min(at, open_at + max_dwell)))
            open_at = None
        else:
            start = at - default_dwell
            append((start, min(at, start + max_dwell)))
    if open_at is not None:
        append((open_at, open_at + min(default_dwell, max_dwell)))
    # An out with no open visit reaches back before earlier visits, and clipping can make two
    # spans equal (an in closed early by an out, then an out alone): sort and merge equal ones.
    if len(spans) > 1:
        return tuple(sorted(set(spans)))
    return tuple(spans)


def build_visits(scans: Iterable[Scan], rules: VenueRules) -> list[Visit]:
    """Rules 1-2: the visits of one person at one venue, sorted by (start, end).

    Raises :class:`InvalidScanError` if the scans are not all of one venue and one person.

    Example:
        >>> rules = VenueRules(default_dwell=3_600)
        >>> build_visits([Scan("e1", "cafe", "ann", "in", 0),
        ...               Scan("e2", "cafe", "ann", "in", 1_800)], rules)
        [Visit(venue_id='cafe', person='ann', start=0, end=1800), \
Visit(venue_id='cafe', person='ann', start=1800, end=5400)]
    """
    unique = dedup_by_event_id(scans)
    if not unique:
        return []
    venue_id, person = unique[0].venue_id, unique[0].person
    for scan in unique:
        if scan.venue_id != venue_id or scan.person != person:
            raise InvalidScanError(
                f"build_visits takes one (venue, person); got ({venue_id!r}, {person!r}) "
                f"and ({scan.venue_id!r}, {scan.person!r})"
            )
    moments = sorted({(scan.at, direction_rank(scan)) for scan in unique})
    spans = pair_moments(moments, rules.default_dwell, rules.max_dwell)
    return [Visit(venue_id, person, start, end) for start, end in spans]
