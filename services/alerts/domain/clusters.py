"""Cluster detection per venue (rule 12): several open cases present at one venue within days.

A case is *present* at a venue when one of its F0's visits there intersects its infectious
window (closed intervals, as rule 6 reads "intersects") by at least the rule's
``min_presence_s``. A *span* is the visits of one venue whose starts lie within ``window_days``
of the earliest of them; a span with at least ``min_cases`` distinct cases qualifies. Qualifying
spans that share a visit are one cluster: its visits, cases, and window from the first to the
last of those visits' starts. The clusters are a function of the open cases and the current
visits alone, so they are recomputed whenever either may have changed, and
:func:`carry_ids` keeps a cluster's id while it grows or shrinks.

Default rules per venue kind follow CLEA's practice (a tighter bar where people stay long
together): ``min_cases`` 3 within 7 days for most kinds, 3 within 14 days in offices, schools
and factories, 2 within 7 days in clinics.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from services.alerts.domain.errors import DomainError

DAY_S = 86_400
# uuid5(NAMESPACE_URL, "https://truyvet.invalid/clusters"), written out like the alert ids'.
CLUSTER_NAMESPACE = uuid.UUID("0c7f2b4e-3d5a-5e8f-9b1c-6a2d4e8f0b3c")


class InvalidClusterRuleError(DomainError):
    """A cluster rule that could never (or always) fire."""


@dataclass(frozen=True, slots=True)
class ClusterRule:
    """When the cases present at a venue are a cluster.

    Example:
        >>> ClusterRule(min_cases=3, window_days=7).window_s
        604800
    """

    min_cases: int = 3
    window_days: int = 7
    min_presence_s: int = 0

    def __post_init__(self) -> None:
        if self.min_cases < 2:
            raise InvalidClusterRuleError("a cluster needs min_cases >= 2")
        if not 1 <= self.window_days <= 366:
            raise InvalidClusterRuleError("window_days must be 1 to 366")
        if self.min_presence_s < 0:
            raise InvalidClusterRuleError("min_presence_s must be >= 0")

    @property
    def window_s(self) -> int:
        return self.window_days * DAY_S


DEFAULT_RULES: Mapping[str, ClusterRule] = MappingProxyType({
    "office": ClusterRule(3, 14), "school": ClusterRule(3, 14), "factory": ClusterRule(3, 14),
    "clinic": ClusterRule(2, 7), "market": ClusterRule(3, 7), "restaurant": ClusterRule(3, 7),
    "shop": ClusterRule(3, 7), "other": ClusterRule(3, 7),
})


@dataclass(frozen=True, slots=True)
class CasePresence:
    """A visit of a case's F0 at a venue, with the case's infectious window."""

    case_id: str
    venue_id: str
    visit_id: str
    start: int
    end: int
    window_start: int
    window_end: int

    def present(self, min_presence_s: int) -> bool:
        overlap = min(self.end, self.window_end) - max(self.start, self.window_start)
        return overlap >= 0 and overlap >= min_presence_s


@dataclass(frozen=True, slots=True)
class Cluster:
    """A cluster of a venue: its cases, the visits that make it, and its window."""

    cluster_id: str
    venue_id: str
    start: int
    end: int
    case_ids: tuple[str, ...]
    visit_ids: tuple[str, ...]


def detect_clusters(presences: Iterable[CasePresence],
                    rule_of: Callable[[str], ClusterRule]) -> list[Cluster]:
    """The clusters of every venue, by venue then start; ids from their first visit
    (:func:`carry_ids` gives back the ids of clusters seen before).

    Example:
        >>> d = DAY_S
        >>> ps = [CasePresence(c, "bar", f"v{i}", t, t + 3600, 0, 30 * d)
        ...       for i, (c, t) in enumerate([("c1", d), ("c2", 3 * d), ("c1", 4 * d),
        ...                                   ("c3", 20 * d)])]
        >>> [(c.venue_id, c.case_ids, c.start // d, c.end // d)
        ...  for c in detect_clusters(ps, lambda venue: ClusterRule(2, 7))]
        [('bar', ('c1', 'c2'), 1, 4)]
    """
    by_venue: dict[str, dict[str, CasePresence]] = {}
    for p in presences:
        if p.present(rule_of(p.venue_id).min_presence_s):
            by_venue.setdefault(p.venue_id, {})[p.visit_id] = p
    clusters: list[Cluster] = []
    for venue_id in sorted(by_venue):
        rule = rule_of(venue_id)
        visits = sorted(by_venue[venue_id].values(), key=lambda p: (p.start, p.visit_id))
        groups: list[list[CasePresence]] = []
        reach = None  # the last start of the group being built
        for i, first in enumerate(visits):
            span = [p for p in visits[i:] if p.start <= first.start + rule.window_s]
            if len({p.case_id for p in span}) < rule.min_cases:
                continue
            if reach is not None and first.start <= reach:  # the spans share this visit
                groups[-1].extend(p for p in span if p not in groups[-1])
                reach = max(reach, span[-1].start)
            else:
                groups.append(list(span))
                reach = span[-1].start
        for group in groups:
            clusters.append(Cluster(
                cluster_id=_new_id(venue_id, group),
                venue_id=venue_id,
                start=min(p.start for p in group),
                end=max(p.start for p in group),
                case_ids=tuple(sorted({p.case_id for p in group})),
                visit_ids=tuple(sorted(p.visit_id for p in group)),
            ))
    return clusters


def _new_id(venue_id: str, group: list[CasePresence]) -> str:
    return str(uuid.uuid5(CLUSTER_NAMESPACE, f"{venue_id}\x1f{min(p.visit_id for p in group)}"))


def carry_ids(previous: Iterable[Cluster], fresh: Iterable[Cluster]) -> list[Cluster]:
    """``fresh`` with the id of the earlier cluster each continues (the same venue, a visit in
    common; the smallest id if several merged), so a growing cluster is updated, not new.

    Example:
        >>> old = Cluster("k-old", "bar", 0, 5, ("c1", "c2"), ("v1", "v2"))
        >>> grown = Cluster("k-new", "bar", 0, 9, ("c1", "c2", "c3"), ("v1", "v2", "v3"))
        >>> [c.cluster_id for c in carry_ids([old], [grown])]
        ['k-old']
    """
    by_visit: dict[tuple[str, str], str] = {}
    for cluster in previous:
        for visit in cluster.visit_ids:
            key = (cluster.venue_id, visit)
            by_visit[key] = min(by_visit.get(key, cluster.cluster_id), cluster.cluster_id)
    carried: list[Cluster] = []
    taken: set[str] = set()
    for cluster in fresh:
        ids = {by_visit[(cluster.venue_id, v)] for v in cluster.visit_ids
               if (cluster.venue_id, v) in by_visit} - taken
        cluster_id = min(ids) if ids else cluster.cluster_id
        taken.add(cluster_id)
        carried.append(Cluster(cluster_id, cluster.venue_id, cluster.start, cluster.end,
                               cluster.case_ids, cluster.visit_ids))
    return carried
