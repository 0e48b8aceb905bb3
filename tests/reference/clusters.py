"""Brute-force rule 12: clusters of cases present at a venue, from every pair of visits.

For each venue, every pair of present visits (a, b) with ``a.start <= b.start <= a.start +
window`` names the visits starting between them; when those hold ``min_cases`` distinct cases,
they are all put in one cluster (union-find). Presence: the visit and the infectious window, as
closed intervals, meet, and share at least ``min_presence_s``. A venue named in ``per_venue``
uses its own ``(min_cases, window_s, min_presence_s)`` in place of the ones given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple


class ReferencePresence(NamedTuple):
    case_id: str
    venue_id: str
    visit_id: str
    start: int
    end: int
    window_start: int
    window_end: int


class ReferenceCluster(NamedTuple):
    venue_id: str
    start: int
    end: int
    case_ids: tuple[str, ...]
    visit_ids: tuple[str, ...]


def reference_clusters(presences: Iterable[ReferencePresence], min_cases: int, window_s: int,
                       min_presence_s: int,
                       per_venue: Mapping[str, tuple[int, int, int]] | None = None,
                       ) -> set[ReferenceCluster]:
    def rule(venue: str) -> tuple[int, int, int]:
        return (per_venue or {}).get(venue, (min_cases, window_s, min_presence_s))

    present = {p.visit_id: p for p in presences
               if p.start <= p.window_end and p.end >= p.window_start
               and min(p.end, p.window_end) - max(p.start, p.window_start)
               >= rule(p.venue_id)[2]}
    parent = {v: v for v in present}

    def root(v: str) -> str:
        while parent[v] != v:
            v = parent[v]
        return v

    clustered: set[str] = set()
    for a in present.values():
        least, window, _ = rule(a.venue_id)
        for b in present.values():
            if a.venue_id != b.venue_id or not a.start <= b.start <= a.start + window:
                continue
            between = [v for v in present.values()
                       if v.venue_id == a.venue_id and a.start <= v.start <= b.start]
            if len({v.case_id for v in between}) >= least:
                for v in between:
                    clustered.add(v.visit_id)
                    parent[root(v.visit_id)] = root(a.visit_id)
    groups: dict[str, list[ReferencePresence]] = {}
    for v in clustered:
        groups.setdefault(root(v), []).append(present[v])
    return {ReferenceCluster(g[0].venue_id, min(v.start for v in g), max(v.start for v in g),
                             tuple(sorted({v.case_id for v in g})),
                             tuple(sorted(v.visit_id for v in g)))
            for g in groups.values()}
