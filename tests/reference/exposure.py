"""Brute-force rules 5-8: who a case exposed, at which degree, when and through whom.

Deliberately naive, to be trusted by reading: the window is recomputed here from the rule text,
and every layer loops over *every* edge. The domain's layered search must agree with it exactly.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

HOURS_48 = 48 * 3600


class ReferenceCase(NamedTuple):
    """A case's fields as rule 5 states them (epoch seconds); nothing is checked or derived."""

    case_id: str
    person: str
    onset_at: int | None
    sampled_at: int | None
    reported_at: int
    isolated_at: int | None

    @classmethod
    def of(cls, case: object) -> ReferenceCase:
        """The fields another case value was given (read by name, nothing derived)."""
        return cls(*(getattr(case, name) for name in cls._fields))


class ReferenceEdge(NamedTuple):
    """A contact edge's fields (rule 3)."""

    contact_id: str
    venue_id: str
    person_a: str
    person_b: str
    start: int
    end: int

    @classmethod
    def of(cls, edge: object) -> ReferenceEdge:
        """The fields of another edge value (a domain ``ContactEdge`` or ``Contact``)."""
        return cls(*(getattr(edge, name) for name in cls._fields))


def reference_window(case: ReferenceCase) -> tuple[int, int]:
    """Rule 5: ``[(onset_at or sampled_at) - 48 h, isolated_at or reported_at]``."""
    # "onset_at or sampled_at" means "whichever is known", and 0 is a known time.
    anchor = case.onset_at if case.onset_at is not None else case.sampled_at
    assert anchor is not None, "rule 5: at least one of onset_at / sampled_at"
    return anchor - HOURS_48, case.isolated_at if case.isolated_at is not None else case.reported_at


class ReferenceAlert(NamedTuple):
    degree: int
    exposed_at: int
    via: str | None
    venue_ids: tuple[str, ...]
    contact_ids: tuple[str, ...]


def reference_alerts(
    case: ReferenceCase, edges: Iterable[ReferenceEdge], max_degree: int = 2
) -> dict[str, ReferenceAlert]:
    """Every person ``case`` exposed through ``edges`` (the complete list), by person."""
    window_start, window_end = reference_window(case)

    unique_edges = set(edges)  # the same contact listed twice is one contact
    degree: dict[str, int] = {case.person: 0}
    exposed_at: dict[str, int] = {}
    result: dict[str, ReferenceAlert] = {}

    for k in range(max_degree):
        # person -> [(exposure time, via, edge)] over the qualifying edges to degree k
        found: dict[str, list[tuple[int, str | None, ReferenceEdge]]] = {}
        for e in unique_edges:
            for from_person, to_person in ((e.person_a, e.person_b), (e.person_b, e.person_a)):
                if degree.get(from_person) != k or to_person in degree:
                    continue
                if k == 0:
                    # Rule 6: closed [start, end] intersects closed [window_start, window_end].
                    if e.start <= window_end and e.end >= window_start:
                        found.setdefault(to_person, []).append(
                            (max(e.start, window_start), None, e)
                        )
                else:
                    # Rule 7: ends after the exposure, starts before the report (both strict).
                    if e.end > exposed_at[from_person] and e.start < case.reported_at:
                        found.setdefault(to_person, []).append(
                            (max(e.start, exposed_at[from_person]), from_person, e)
                        )
        for person, candidates in found.items():
            best_time, best_via = min((t, via or "") for t, via, _ in candidates)
            degree[person] = k + 1
            exposed_at[person] = best_time
            result[person] = ReferenceAlert(
                degree=k + 1,
                exposed_at=best_time,
                via=best_via or None,
                venue_ids=tuple(sorted({e.venue_id for _, _, e in candidates})),
                contact_ids=tuple(sorted(e.contact_id for _, _, e in candidates)),
            )
    return result
