"""The alerts worker's cluster watch (rule 12): open cases' presence read from ClickHouse, the
clusters detected, and what changed since the last look, as ``clusters`` messages and rows.

Clusters span every case, and the open cases are shared between the alerts workers by
partition, so one worker watches: the owner of ``cases`` partition 0. It looks every
``TRUYVET_CLUSTER_CHECK_S`` from what ClickHouse holds (the cases as stored, the F0s' visits),
so its answer is whole whichever worker holds which case.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.clusters import ClusterMessage
from schemas.common import Op
from services.alerts.domain.clusters import (
    DEFAULT_RULES,
    Cluster,
    ClusterRule,
    carry_ids,
    detect_clusters,
)
from services.alerts.worker.store import AlertStore
from services.core.clickhouse import utc


def venue_rule(kind: str, own: ClusterRule | None) -> ClusterRule:
    """The cluster rule of a venue: its own if it has one, else its kind's default.

    Example:
        >>> venue_rule("clinic", None).min_cases, venue_rule("clinic", ClusterRule(5, 3)).min_cases
        (2, 5)
    """
    return own if own is not None else DEFAULT_RULES.get(kind, DEFAULT_RULES["other"])


@dataclass(frozen=True, slots=True)
class ClusterChange:
    cluster: Cluster
    kind: str
    visitors: int
    deleted: bool
    rule: ClusterRule = DEFAULT_RULES["other"]

    def message(self, detected_at: int) -> bytes:
        rule = self.rule
        return ClusterMessage(
            op=Op.RETRACT if self.deleted else Op.UPSERT, cluster_id=self.cluster.cluster_id,
            venue_id=self.cluster.venue_id, venue_kind=self.kind,
            start=utc(self.cluster.start), end=utc(self.cluster.end),
            case_ids=list(self.cluster.case_ids), visitors=self.visitors,
            min_cases=rule.min_cases, window_days=rule.window_days,
            detected_at=utc(detected_at)).model_dump_json().encode()


class ClusterWatch:
    """Remembers the clusters published (loaded from the store on first use)."""

    def __init__(self, store: AlertStore) -> None:
        self._store = store
        self._published: dict[str, tuple[Cluster, int]] | None = None

    def forget(self) -> None:
        """Another worker watches now: read the published clusters again before the next look."""
        self._published = None

    def look(self, reported_since: int) -> list[ClusterChange]:
        """Blocking: what changed since the last look (new, grown, shrunk, dissolved)."""
        if self._published is None:
            self._published = {c.cluster_id: (c, -1) for c in self._store.clusters()}
        presences = self._store.case_presences(reported_since)
        kinds = self._store.venue_kinds({p.venue_id for p in presences}
                                        | {c.venue_id for c, _ in self._published.values()})

        def kind_of(venue: str) -> str:
            return kinds.get(venue, ("other", None))[0]

        def rule_of(venue: str) -> ClusterRule:
            return venue_rule(*kinds.get(venue, ("other", None)))

        fresh = carry_ids([c for c, _ in self._published.values()],
                          detect_clusters(presences, rule_of))
        changes: list[ClusterChange] = []
        for cluster in fresh:
            before = self._published.get(cluster.cluster_id)
            if before is not None and before[0] == cluster and before[1] >= 0:
                continue
            visitors = len({v.person for v in self._store.visits_at(
                cluster.venue_id, cluster.start, cluster.end)})
            if before is not None and before[0] == cluster and before[1] == visitors:
                continue
            changes.append(ClusterChange(cluster, kind_of(cluster.venue_id), visitors, False,
                                         rule_of(cluster.venue_id)))
        ids = {c.cluster_id for c in fresh}
        changes += [ClusterChange(c, kind_of(c.venue_id), 0, True, rule_of(c.venue_id))
                    for cid, (c, _) in self._published.items() if cid not in ids]
        return changes

    def published(self, changes: list[ClusterChange]) -> None:
        """Record ``changes`` as sent and stored."""
        assert self._published is not None
        for change in changes:
            if change.deleted:
                self._published.pop(change.cluster.cluster_id, None)
            else:
                self._published[change.cluster.cluster_id] = (change.cluster, change.visitors)
