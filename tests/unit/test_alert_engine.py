"""The alerts worker's engine across the retention purge (rules 9 and 10).

The contact store is a dict of current contacts standing in for ClickHouse's ``contacts``:
the purge drops whole UTC days before the horizon's day from it, as the tracer's does. An open
case re-traced afterwards keeps the alerts those days gave, while the contacts still stored go
on adding, changing and withdrawing alerts.
"""

from __future__ import annotations

from collections.abc import Iterable

from services.alerts.domain import Alert, Case, ContactEdge
from services.alerts.domain.engine import AlertChanges, AlertEngine

H, DAY = 3600, 86_400
RETENTION_S = 21 * DAY
NOW = 1_800_000_000 // DAY * DAY + 12 * H  # noon: the horizon is at noon of its day too
HORIZON = NOW - RETENTION_S
REPORTED = NOW - 20 * DAY  # still open: reported within the horizon
# Window [NOW - 28 d, NOW - 20 d]: it starts well before the horizon.
CASE = Case(case_id="c1", person="f0", onset_at=NOW - 26 * DAY, reported_at=REPORTED)


class ContactStore:
    """Current contacts by id, read the way ``AlertStore.edges_of`` reads ClickHouse."""

    def __init__(self, edges: Iterable[ContactEdge]) -> None:
        self.edges = {e.contact_id: e for e in edges}

    def edges_of(self, persons: set[str], since: int, until: int) -> list[ContactEdge]:
        return [e for e in self.edges.values()
                if {e.person_a, e.person_b} & persons and e.end >= since and e.start <= until]

    def add(self, edge: ContactEdge) -> None:
        self.edges[edge.contact_id] = edge

    def retract(self, contact_id: str) -> None:
        del self.edges[contact_id]

    def purge_days_before(self, cutoff: int) -> None:
        """What the tracer's purge leaves: whole days before the cutoff's day are gone."""
        first_kept_day = cutoff // DAY
        self.edges = {cid: e for cid, e in self.edges.items() if e.start // DAY >= first_kept_day}


def edge(contact_id: str, a: str, b: str, start: int, hours: int = 1) -> ContactEdge:
    return ContactEdge(contact_id, "cafe", min(a, b), max(a, b), start, start + hours * H)


OLD_F1 = edge("k-bob", "f0", "bob", NOW - 25 * DAY)  # on a day the purge drops
OLD_F2 = edge("k-cy", "bob", "cy", NOW - 24 * DAY)  # likewise, through bob
RECENT_F2 = edge("k-eve", "bob", "eve", REPORTED - 3 * H)  # within the horizon, through bob
HORIZON_DAY_F1 = edge("k-gus", "f0", "gus", HORIZON - 2 * H)  # before the horizon, on its day


def summary(alerts: Iterable[Alert]) -> set[tuple[str, int, int, str | None]]:
    return {(a.person, a.degree, a.exposed_at, a.via_person) for a in alerts}


def people(items: Iterable[tuple[Alert, int]]) -> list[str]:
    return sorted(a.person for a, _ in items)


def reported() -> tuple[AlertEngine, ContactStore, dict[str, Alert]]:
    """The case traced while every contact was stored, then the purge at the horizon."""
    store = ContactStore([OLD_F1, OLD_F2, RECENT_F2, HORIZON_DAY_F1])
    engine = AlertEngine(max_degree=2, retention_s=RETENTION_S)
    first = engine.report(CASE, store.edges_of, REPORTED + 60)
    assert summary(a for a, _ in first.upserts) == {
        ("bob", 1, OLD_F1.start, None),
        ("gus", 1, HORIZON_DAY_F1.start, None),
        ("cy", 2, OLD_F2.start, "bob"),
        ("eve", 2, RECENT_F2.start, "bob"),
    }
    store.purge_days_before(HORIZON)
    assert set(store.edges) == {"k-eve", "k-gus"}
    return engine, store, dict(engine.cases["c1"].alerts)


def retrace(engine: AlertEngine, store: ContactStore, *new: ContactEdge) -> AlertChanges:
    """New contacts arrive: re-trace every case they touch, as the worker does."""
    for e in new:
        store.add(e)
    touched = engine.cases_touched_by({p for e in new for p in (e.person_a, e.person_b)})
    assert touched == {"c1"}
    return engine.recompute("c1", store.edges_of, NOW)


def test_a_retrace_after_the_purge_keeps_the_alerts_of_purged_contacts() -> None:
    engine, store, published = reported()
    # F0 meets someone today, after the window: the case is re-traced, nothing changes.
    changes = retrace(engine, store, edge("k-dan", "f0", "dan", NOW - 5 * H))
    assert not changes, changes
    assert engine.cases["c1"].alerts == published


def test_a_purged_f1_still_carries_new_f2s_through_stored_contacts() -> None:
    engine, store, _ = reported()
    late = edge("k-fay", "bob", "fay", REPORTED - 2 * H)  # a late scan, within the horizon
    changes = retrace(engine, store, late)
    assert summary(a for a, _ in changes.upserts) == {("fay", 2, late.start, "bob")}
    assert changes.retractions == ()


def test_contacts_still_stored_still_withdraw_alerts() -> None:
    engine, store, _ = reported()
    # A late `out` retracts contacts within the horizon, and one before it on the horizon's
    # day (still stored): those alerts go; the purged days' alerts stay.
    store.retract("k-eve")
    store.retract("k-gus")
    changes = retrace(engine, store, edge("k-dan", "f0", "dan", NOW - 5 * H))
    assert changes.upserts == ()
    assert people(changes.retractions) == ["eve", "gus"]
    assert summary(engine.cases["c1"].alerts.values()) == {
        ("bob", 1, OLD_F1.start, None),
        ("cy", 2, OLD_F2.start, "bob"),
    }


def test_a_restarted_engine_keeps_them_too() -> None:
    engine, store, published = reported()
    created_at = engine.cases["c1"].created_at
    # Recovery loads the open case and its alerts, exposures included, from ClickHouse.
    restarted = AlertEngine(max_degree=2, retention_s=RETENTION_S)
    restarted.load(CASE, [(a, created_at[a.alert_id]) for a in published.values()])
    changes = retrace(restarted, store, edge("k-dan", "f0", "dan", NOW - 5 * H))
    assert not changes, changes
    assert restarted.cases["c1"].alerts == published


def test_a_forgotten_case_is_no_longer_held_nor_touched() -> None:
    engine, _, _ = reported()
    assert engine.cases_touched_by({"eve"}) == {"c1"}
    engine.forget(["c1", "never-held"])
    assert engine.cases == {} and engine.cases_touched_by({"f0", "eve"}) == set()
