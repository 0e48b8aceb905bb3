"""Who a case exposed, degree by degree (rules 6-8), as a search the service drives layer by layer.

The service owns the I/O: it asks :meth:`ExposureSearch.frontier` which persons' contacts it
needs next, reads them from the contact store, hands them to :meth:`ExposureSearch.add_edges`,
and repeats until the search is done. :func:`trace_case` is that loop for a callable store.

Boundaries, each taken literally from the rule text:

- F1 (rule 6): the contact's closed overlap ``[start, end]`` intersects the closed infectious
  window, so touching it at one instant counts (see :mod:`.window`). Nothing else is required: a
  contact after ``reported_at`` but before ``isolated_at`` is inside the window and counts.
- Degree k+1 (rule 7): ``end > exposure of the degree-k person`` ("after") and
  ``start < reported_at`` ("before"), both strict. A contact that ends exactly when the
  degree-k person was exposed shared no time with them as an exposed person.
- Exposure at degree k+1 is the earliest ``max(edge.start, exposure of the degree-k person)``;
  ``via_person`` is the degree-k person giving it, the smallest person id on a tie.
- Each person gets the lowest degree that reaches them, even if a higher degree would give an
  earlier time: layers are complete before the next one starts.

Because degree k+1 depends only on degree k, each layer is one linear pass over the contacts of
the frontier; no priority queue is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from services.alerts.domain.errors import InvalidContactEdgeError, SearchStateError
from services.alerts.domain.model import Alert, Case, ContactEdge, Exposure, alert_id_for

EdgesOf = Callable[[set[str], int, int], Iterable[ContactEdge]]
"""``edges_of(persons, since, until)``: every contact of ``persons`` with ``end >= since`` and
``start <= until``. Returning more (other persons, other times, duplicates) is harmless."""


@dataclass(frozen=True, slots=True)
class Frontier:
    """The contacts the search needs next: those of ``persons`` with end >= since, start <= until.

    ``degree`` is the degree of ``persons`` (0 for the case person). The range is a superset
    filter, inclusive at both ends, meant to become a ``WHERE`` clause as it stands.
    """

    degree: int
    persons: frozenset[str]
    since: int
    until: int


@dataclass(slots=True)
class _Reach:
    """How one person was reached: their degree, earliest exposure, and the contacts behind it."""

    degree: int
    exposed_at: int
    via_person: str | None
    exposures: list[Exposure] = field(default_factory=list)

    def offer(self, exposed_at: int, via_person: str | None) -> None:
        """Keep the earlier exposure; on a tie, the smaller via person id (None sorts first)."""
        if (exposed_at, via_person or "") < (self.exposed_at, self.via_person or ""):
            self.exposed_at = exposed_at
            self.via_person = via_person


class ExposureSearch:
    """The layered F1/F2/... search for one case.

    Example:
        >>> h = 3600
        >>> case = Case(case_id="c1", person="ann", onset_at=100 * h, reported_at=101 * h)
        >>> search = ExposureSearch(case, max_degree=2)
        >>> f = search.frontier()
        >>> f.degree, sorted(f.persons), f.since // h, f.until // h
        (0, ['ann'], 52, 101)
        >>> search.add_edges([ContactEdge("k1", "cafe", "ann", "bob", 60 * h, 61 * h)])
        >>> f = search.frontier()
        >>> f.degree, sorted(f.persons), f.since // h, f.until // h
        (1, ['bob'], 60, 101)
        >>> search.add_edges([ContactEdge("k2", "shop", "bob", "cy", 62 * h, 63 * h)])
        >>> search.done
        True
        >>> [(a.person, a.degree, a.exposed_at // h, a.via_person) for a in search.alerts()]
        [('bob', 1, 60, None), ('cy', 2, 62, 'bob')]
    """

    def __init__(self, case: Case, max_degree: int = 2) -> None:
        if isinstance(max_degree, bool) or not isinstance(max_degree, int) or max_degree < 1:
            raise SearchStateError(f"max_degree must be an integer >= 1, got {max_degree!r}")
        self._case = case
        self._max_degree = max_degree
        self._reached: dict[str, _Reach] = {}
        # Degree of the current frontier; its persons are those reached at exactly this degree.
        self._degree = 0
        self._layer: frozenset[str] = frozenset({case.person})
        # Every contact already used, by id: a contact that touched an earlier layer can never
        # qualify again (both its ends are reached by then), and the same contact returned twice
        # must count once.
        self._seen: dict[str, ContactEdge] = {}

    @property
    def case(self) -> Case:
        return self._case

    @property
    def max_degree(self) -> int:
        return self._max_degree

    @property
    def done(self) -> bool:
        """True once no further contacts could add an alert."""
        return not self._layer or self._degree >= self._max_degree

    def frontier(self) -> Frontier | None:
        """The contacts needed next, or None when the search is done."""
        if self.done:
            return None
        if self._degree == 0:
            window = self._case.window
            return Frontier(0, self._layer, window.start, window.end)
        since = min(self._reached[p].exposed_at for p in self._layer)
        return Frontier(self._degree, self._layer, since, self._case.reported_at)

    def add_edges(self, edges: Iterable[ContactEdge]) -> None:
        """Take the frontier's contacts (all of them, in one call) and build the next layer.

        Contacts that touch no frontier person are ignored, so the store may return a superset.
        """
        if self.done:
            raise SearchStateError(
                f"case {self._case.case_id}: the exposure search is done; no more contacts needed"
            )
        layer = self._layer
        next_layer: dict[str, _Reach] = {}
        for edge in edges:
            if edge.person_a not in layer and edge.person_b not in layer:
                continue
            if self._already_seen(edge):
                continue
            for exposer in (edge.person_a, edge.person_b):
                if exposer in layer:
                    self._offer(edge, exposer, next_layer)
        self._reached.update(next_layer)
        self._degree += 1
        self._layer = frozenset(next_layer)

    def alerts(self) -> list[Alert]:
        """One alert per exposed person, ordered by degree, then exposure time, then person."""
        if not self.done:
            raise SearchStateError(
                f"case {self._case.case_id}: the exposure search still needs the contacts of "
                f"degree {self._degree}; call add_edges until frontier() is None"
            )
        case_id = self._case.case_id
        alerts = [
            Alert(
                alert_id=alert_id_for(case_id, person),
                case_id=case_id,
                person=person,
                degree=reach.degree,
                exposed_at=reach.exposed_at,
                via_person=reach.via_person,
                venue_ids=tuple(sorted({x.venue_id for x in reach.exposures})),
                exposures=tuple(sorted(reach.exposures, key=Exposure.timeline_key)),
            )
            for person, reach in self._reached.items()
        ]
        alerts.sort(key=lambda a: (a.degree, a.exposed_at, a.person))
        return alerts

    def _already_seen(self, edge: ContactEdge) -> bool:
        previous = self._seen.get(edge.contact_id)
        if previous is None:
            self._seen[edge.contact_id] = edge
            return False
        if previous != edge:
            raise InvalidContactEdgeError(
                f"contact {edge.contact_id} given twice with different content: "
                f"{previous} and {edge}"
            )
        return True

    def _offer(self, edge: ContactEdge, exposer: str, next_layer: dict[str, _Reach]) -> None:
        """Record ``edge`` as a way ``exposer`` (at the frontier degree) exposed its other end."""
        person = edge.other(exposer)
        if person == self._case.person or person in self._reached:
            return  # already at this degree or a lower one
        if self._degree == 0:
            window = self._case.window
            if not window.intersects(edge.start, edge.end):
                return
            exposed_at = max(edge.start, window.start)
            via: str | None = None
        else:
            exposer_exposed_at = self._reached[exposer].exposed_at
            if not (edge.end > exposer_exposed_at and edge.start < self._case.reported_at):
                return
            exposed_at = max(edge.start, exposer_exposed_at)
            via = exposer
        reach = next_layer.get(person)
        if reach is None:
            reach = next_layer[person] = _Reach(self._degree + 1, exposed_at, via)
        else:
            reach.offer(exposed_at, via)
        reach.exposures.append(
            Exposure(edge.contact_id, edge.venue_id, exposer, edge.start, edge.end)
        )


def trace_case(case: Case, edges_of: EdgesOf, max_degree: int = 2) -> list[Alert]:
    """Run the whole search for ``case``, reading each layer's contacts with ``edges_of``.

    Example:
        >>> h = 3600
        >>> case = Case(case_id="c1", person="ann", onset_at=100 * h, reported_at=101 * h)
        >>> edges = [ContactEdge("k1", "cafe", "ann", "bob", 60 * h, 61 * h),
        ...          ContactEdge("k2", "shop", "bob", "cy", 62 * h, 63 * h),
        ...          ContactEdge("k3", "shop", "bob", "dan", 50 * h, 59 * h)]  # before bob's
        >>> def edges_of(persons, since, until):
        ...     return [e for e in edges if {e.person_a, e.person_b} & persons]
        >>> [(a.person, a.degree, a.exposed_at // h, a.via_person)
        ...  for a in trace_case(case, edges_of)]
        [('bob', 1, 60, None), ('cy', 2, 62, 'bob')]
    """
    search = ExposureSearch(case, max_degree)
    while (frontier := search.frontier()) is not None:
        search.add_edges(edges_of(set(frontier.persons), frontier.since, frontier.until))
    return search.alerts()
