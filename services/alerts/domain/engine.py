"""Which cases a change touches, and the alerts each case must have now — no I/O.

Every case reported within the retention horizon stays *open*: its alerts are recomputed when
a contact change touches a person it depends on (its F0 or anyone it alerted), so late scans,
corrections and retractions add, change or withdraw alerts (rule 9). A recompute re-runs the
layered search over the current contacts and diffs the result with what was published, so the
published set always converges to what rules 5-8 give on the whole data.

Retention (rule 10) drops contacts on days before the horizon's from the stores while a case can
still be open, but its alerts stay for audit. A recompute reads the contacts of those days from
the case's alerts instead: their exposures are the contacts they were traced from, which can no
longer change (scans that old are refused), so what they gave stays as it was and the contacts
still stored go on making the rest exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from services.alerts.domain.alert_diff import diff_alerts
from services.alerts.domain.exposure import EdgesOf, trace_case
from services.alerts.domain.model import Alert, Case, ContactEdge
from services.alerts.domain.risk import DEFAULT_RISK, RiskWeights, scored

DAY_S = 86_400


@dataclass(slots=True)
class OpenCase:
    case: Case
    alerts: dict[str, Alert] = field(default_factory=dict)
    created_at: dict[str, int] = field(default_factory=dict)  # alert_id -> first published

    def watched(self) -> set[str]:
        """Persons whose contact changes may change this case's alerts."""
        return {self.case.person, *(a.person for a in self.alerts.values())}

    def exposures_before(self, day_start: int) -> list[ContactEdge]:
        """The contacts behind this case's alerts that started before ``day_start``."""
        # An exposure is seen from the alerted person; the edge is (smaller, larger) like the
        # tracer's contact, so it equals the stored one while that is still there.
        return [
            ContactEdge(e.contact_id, e.venue_id, min(alert.person, e.other_person),
                        max(alert.person, e.other_person), e.start, e.end)
            for alert in self.alerts.values()
            for e in alert.exposures
            if e.start < day_start
        ]


@dataclass(frozen=True, slots=True)
class AlertChanges:
    """What to publish for one case: upserts with their ``created_at``, then retractions."""

    case_id: str
    upserts: tuple[tuple[Alert, int], ...] = ()
    retractions: tuple[tuple[Alert, int], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.upserts or self.retractions)


def replace_alerts(case_id: str, alerts: dict[str, Alert], created_at: dict[str, int],
                   fresh: Iterable[Alert], now: int) -> AlertChanges:
    """Bring ``alerts`` (and the ``created_at`` of each) to ``fresh``; what changed, to publish.
    An alert keeps the ``created_at`` it was first published with; a new one gets ``now``."""
    upserts, retractions = diff_alerts(alerts, fresh)
    changes = AlertChanges(
        case_id,
        upserts=tuple((a, created_at.get(a.alert_id, now)) for a in upserts),
        retractions=tuple((a, created_at[a.alert_id]) for a in retractions),
    )
    for alert, created in changes.upserts:
        alerts[alert.alert_id] = alert
        created_at[alert.alert_id] = created
    for alert, _ in changes.retractions:
        del alerts[alert.alert_id]
        del created_at[alert.alert_id]
    return changes


class AlertEngine:
    """Open cases, their published alerts, and an index from persons to the cases they touch."""

    def __init__(self, max_degree: int, retention_s: int,
                 risk: RiskWeights = DEFAULT_RISK) -> None:
        self.max_degree = max_degree
        self.retention_s = retention_s
        self.risk = risk
        self.cases: dict[str, OpenCase] = {}
        self._cases_of_person: dict[str, set[str]] = {}

    def load(self, case: Case, alerts: Iterable[tuple[Alert, int]]) -> None:
        """Take back a case and its published alerts (from the store, after a restart)."""
        open_case = OpenCase(case)
        for alert, created_at in alerts:
            open_case.alerts[alert.alert_id] = alert
            open_case.created_at[alert.alert_id] = created_at
        self._index(open_case)

    def report(self, case: Case, edges_of: EdgesOf, now: int) -> AlertChanges:
        """A case is reported (or re-reported with corrected times): trace it and diff."""
        previous = self.cases.get(case.case_id)
        open_case = OpenCase(case)
        if previous is not None:
            self._unindex(previous)
            open_case.alerts, open_case.created_at = previous.alerts, previous.created_at
        self._index(open_case)
        return self.recompute(case.case_id, edges_of, now)

    def withdraw(self, case_id: str) -> AlertChanges:
        """A mistaken case is withdrawn: every alert it published is retracted."""
        open_case = self.cases.pop(case_id, None)
        if open_case is None:
            return AlertChanges(case_id)
        self._unindex(open_case)
        return AlertChanges(
            case_id,
            retractions=tuple(
                (a, open_case.created_at[a.alert_id]) for a in open_case.alerts.values()
            ),
        )

    def cases_touched_by(self, persons: Iterable[str]) -> set[str]:
        touched: set[str] = set()
        for person in persons:
            touched |= self._cases_of_person.get(person, set())
        return touched

    def recompute(self, case_id: str, edges_of: EdgesOf, now: int) -> AlertChanges:
        open_case = self.cases[case_id]
        edges_of = self._with_purged_exposures(open_case, edges_of, now)
        fresh = scored(trace_case(open_case.case, edges_of, self.max_degree), open_case.case,
                       self.risk)
        self._unindex(open_case)
        changes = replace_alerts(case_id, open_case.alerts, open_case.created_at, fresh, now)
        self._index(open_case)
        return changes

    def forget(self, case_ids: Iterable[str]) -> None:
        """Stop holding ``case_ids`` (another worker owns them now); nothing is retracted."""
        for case_id in case_ids:
            open_case = self.cases.pop(case_id, None)
            if open_case is not None:
                self._unindex(open_case)

    def close_reported_before(self, cutoff: int) -> list[str]:
        """Stop watching cases reported before ``cutoff`` (their alerts stay, for audit)."""
        closed = [cid for cid, oc in self.cases.items() if oc.case.reported_at < cutoff]
        for case_id in closed:
            self._unindex(self.cases.pop(case_id))
        return closed

    def _with_purged_exposures(self, open_case: OpenCase, edges_of: EdgesOf,
                               now: int) -> EdgesOf:
        """``edges_of`` plus the case's exposures on the days the purge drops (rule 10).

        The stores drop whole UTC days before the horizon's day. A contact returned both ways
        (the purge has not run yet) has the same id and content, and the search counts it once.
        """
        horizon = now - self.retention_s
        purged = open_case.exposures_before(horizon - horizon % DAY_S)
        if not purged:
            return edges_of

        def edges(persons: set[str], since: int, until: int) -> list[ContactEdge]:
            kept = [e for e in purged if (e.person_a in persons or e.person_b in persons)
                    and e.end >= since and e.start <= until]
            return [*edges_of(persons, since, until), *kept]

        return edges

    def _index(self, open_case: OpenCase) -> None:
        self.cases[open_case.case.case_id] = open_case
        for person in open_case.watched():
            self._cases_of_person.setdefault(person, set()).add(open_case.case.case_id)

    def _unindex(self, open_case: OpenCase) -> None:
        for person in open_case.watched():
            cases = self._cases_of_person.get(person)
            if cases is not None:
                cases.discard(open_case.case.case_id)
                if not cases:
                    del self._cases_of_person[person]
