"""Rule 3 incrementally: which contact edges appear and disappear when some visits change.

When a batch replaces some visits of a venue by others, the edges that can change are those of
a pair with a removed or an added visit. Querying the index for each removed visit (before it
leaves) and each added one (once the others are in) gives the candidate edges ``lost`` and
``gained``. Because edges are a *set*, that is not yet the answer: one edge can come from several
pairs of visits (a person's lone-``out`` visit can overlap their other visits, so two of their
visits can overlap someone else's identically), so

* an edge of ``lost`` is retracted only if no pair of the new visits still makes it, and
* an edge of ``gained`` is new only if no pair of the old visits made it.

Another pair can make the same edge only if the changed visit's person has two visits that
overlap each other; that is rare, so only those edges are checked, on the two persons' own
visits (a handful), never on the whole venue.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping

from services.tracer.domain.overlap import ContactKey, IndexedVisit, VisitIndex
from services.tracer.domain.visits import Span

SpansOf = Mapping[str, tuple[Span, ...]]
"""person → their visits at the venue as ``(start, end)``, sorted."""

_NO_SPANS: tuple[Span, ...] = ()
_NO_CHANGES: SpansOf = {}


def contact_changes(
    index: VisitIndex,
    removed: list[IndexedVisit],
    added: list[IndexedVisit],
    spans_before: SpansOf,
    spans_now: SpansOf,
    min_overlap: int,
    longest: int,
) -> tuple[list[ContactKey], list[ContactKey]]:
    """Move ``index`` from the old visits to the new ones; return (edges added, edges removed).

    ``spans_before`` holds the old visits of the persons whose visits changed, ``spans_now``
    everyone's current visits, and ``longest`` bounds every visit's duration, old or new.

    Example:
        >>> index = VisitIndex("cafe", [(0, 3_600, "ann"), (1_800, 5_400, "bob")])
        >>> added, removed = contact_changes(
        ...     index, removed=[(0, 3_600, "ann")], added=[(0, 2_400, "ann")],
        ...     spans_before={"ann": ((0, 3_600),)},
        ...     spans_now={"ann": ((0, 2_400),), "bob": ((1_800, 5_400),)},
        ...     min_overlap=600, longest=3_600)
        >>> added, removed
        ([('cafe', 'ann', 'bob', 1800, 2400)], [('cafe', 'ann', 'bob', 1800, 3600)])
    """
    overlapping_before = _with_overlapping_visits(removed, spans_before, min_overlap)
    overlapping_now = _with_overlapping_visits(added, spans_now, min_overlap)
    lost_certain: set[ContactKey] = set()
    lost_unsure: set[ContactKey] = set()
    for visit in removed:
        # Removing first, then querying, meets each pair of removed visits exactly once.
        index.remove(visit)
        into = lost_unsure if visit[2] in overlapping_before else lost_certain
        index.contacts_of(visit[0], visit[1], visit[2], min_overlap, into)
    gained_certain: set[ContactKey] = set()
    gained_unsure: set[ContactKey] = set()
    for visit in added:
        into = gained_unsure if visit[2] in overlapping_now else gained_certain
        index.contacts_of(visit[0], visit[1], visit[2], min_overlap, into)
        index.add(visit)

    gained = gained_certain | gained_unsure if gained_unsure else gained_certain
    lost = lost_certain | lost_unsure if lost_unsure else lost_certain
    # Set differences run in C: a dense batch has millions of candidate edges.
    edges_removed = list(lost_certain - gained)
    edges_added = list(gained_certain - lost)
    if lost_unsure:
        edges_removed.extend(
            key
            for key in lost_unsure - lost_certain - gained
            if not _made_by(key, spans_now, _NO_CHANGES, longest)
        )
    if gained_unsure:
        # The old visits: those before the change for the persons who changed, else current.
        edges_added.extend(
            key
            for key in gained_unsure - gained_certain - lost
            if not _made_by(key, spans_before, spans_now, longest)
        )
    return edges_added, edges_removed


def _with_overlapping_visits(
    visits: list[IndexedVisit], spans_of: SpansOf, min_overlap: int
) -> set[str]:
    """The persons of ``visits`` who have two visits that could make one edge together."""
    found: set[str] = set()
    for _, _, person in visits:
        spans = spans_of.get(person, _NO_SPANS)
        if len(spans) > 1 and person not in found and _self_overlapping(spans, min_overlap):
            found.add(person)
    return found


def _self_overlapping(spans: tuple[Span, ...], min_overlap: int) -> bool:
    """Whether two of one person's spans (sorted by start) could both cover one edge's overlap.

    An overlap of positive length needs the two spans to overlap by more than an instant; with
    ``min_overlap == 0`` an overlap may be a single instant, so touching spans count too.
    """
    furthest = spans[0][1]
    for start, end in spans[1:]:
        if start < furthest or (start == furthest and min_overlap == 0):
            return True
        if end > furthest:
            furthest = end
    return False


def _made_by(key: ContactKey, spans_of: SpansOf, otherwise: SpansOf, longest: int) -> bool:
    """Whether a visit of each endpoint overlap exactly as ``key`` says.

    A person's visits are looked up in ``spans_of``, then in ``otherwise``.
    """
    _, person_a, person_b, start, end = key
    covering_a = _covering(_spans(person_a, spans_of, otherwise), start, end, longest)
    if not covering_a:
        return False
    covering_b = _covering(_spans(person_b, spans_of, otherwise), start, end, longest)
    for start_a, end_a in covering_a:
        for start_b, end_b in covering_b:
            if max(start_a, start_b) == start and min(end_a, end_b) == end:
                return True
    return False


def _spans(person: str, spans_of: SpansOf, otherwise: SpansOf) -> tuple[Span, ...]:
    spans = spans_of.get(person)
    return otherwise.get(person, _NO_SPANS) if spans is None else spans


def _covering(spans: tuple[Span, ...], start: int, end: int, longest: int) -> list[Span]:
    """The spans (sorted by start, none longer than ``longest``) that contain ``[start, end]``."""
    found = []
    at = bisect_right(spans, (start, end + longest + 1))
    earliest = end - longest
    while at:
        at -= 1
        span = spans[at]
        if span[0] < earliest:
            break
        if span[1] >= end:
            found.append(span)
    return found
