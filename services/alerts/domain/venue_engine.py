"""Open exposure events, their published alerts, and what to publish when anything changes.

Like :class:`~services.alerts.domain.engine.AlertEngine` for cases: an event is re-traced from
the current visits and contacts whenever they may have changed and the result is diffed with
what was published. A correction (the same ``event_id`` declared again) re-traces with the new
fields; a withdrawal retracts every alert the event published. While venue alerts are paused
nothing is re-traced and nothing published: the published set stays as it was, and the first
re-trace after the pause publishes exactly the difference, so nothing is lost.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from services.alerts.domain.engine import AlertChanges, replace_alerts
from services.alerts.domain.exposure import EdgesOf
from services.alerts.domain.model import Alert
from services.alerts.domain.risk import DEFAULT_RISK, RiskWeights
from services.alerts.domain.venue_events import VenueEvent, VisitsAt, trace_event


@dataclass(slots=True)
class OpenEvent:
    event: VenueEvent
    alerts: dict[str, Alert] = field(default_factory=dict)
    created_at: dict[str, int] = field(default_factory=dict)

    def watched(self) -> set[str]:
        """Persons whose contacts may change the event's alerts (with contacts only)."""
        if not self.event.with_contacts:
            return set()
        return {a.person for a in self.alerts.values()}


class EventEngine:
    """The open exposure events of one worker, by id, venue and watched person."""

    def __init__(self, max_degree: int, risk: RiskWeights = DEFAULT_RISK) -> None:
        self.max_degree = max_degree
        self.risk = risk
        self.events: dict[str, OpenEvent] = {}

    def load(self, event: VenueEvent, alerts: Iterable[tuple[Alert, int]]) -> None:
        """Take back an event and its published alerts (from the store, after a restart)."""
        open_event = OpenEvent(event)
        for alert, created_at in alerts:
            open_event.alerts[alert.alert_id] = alert
            open_event.created_at[alert.alert_id] = created_at
        self.events[event.event_id] = open_event

    def declare(self, event: VenueEvent, visits_at: VisitsAt, edges_of: EdgesOf, now: int, *,
                paused: bool = False) -> AlertChanges:
        """An event is declared or corrected; while ``paused`` it is only held."""
        previous = self.events.get(event.event_id)
        open_event = OpenEvent(event)
        if previous is not None:
            open_event.alerts, open_event.created_at = previous.alerts, previous.created_at
        self.events[event.event_id] = open_event
        if paused:
            return AlertChanges(event.event_id)
        return self.recompute(event.event_id, visits_at, edges_of, now)

    def withdraw(self, event_id: str) -> AlertChanges:
        """Every alert the event published is retracted (a kill switch does not hold this:
        a retraction alerts nobody)."""
        open_event = self.events.pop(event_id, None)
        if open_event is None:
            return AlertChanges(event_id)
        return AlertChanges(event_id, retractions=tuple(
            (a, open_event.created_at[a.alert_id]) for a in open_event.alerts.values()))

    def touched_by(self, venues: Iterable[str], persons: Iterable[str]) -> set[str]:
        """Events whose alerts contact changes at ``venues`` of ``persons`` may change."""
        venues, persons = set(venues), set(persons)
        return {eid for eid, oe in self.events.items()
                if oe.event.venue_id in venues or oe.watched() & persons}

    def recompute(self, event_id: str, visits_at: VisitsAt, edges_of: EdgesOf,
                  now: int) -> AlertChanges:
        open_event = self.events[event_id]
        fresh = trace_event(open_event.event, visits_at, edges_of, self.max_degree, self.risk)
        return replace_alerts(event_id, open_event.alerts, open_event.created_at, fresh, now)

    def forget(self, event_ids: Iterable[str]) -> None:
        """Stop holding ``event_ids`` (another worker owns them now); nothing is retracted."""
        for event_id in event_ids:
            self.events.pop(event_id, None)

    def close_ended_before(self, cutoff: int) -> list[str]:
        """Stop re-tracing events whose window ended before ``cutoff`` (the retention horizon:
        their visits are gone); their alerts stay, for audit."""
        closed = [eid for eid, oe in self.events.items() if oe.event.end < cutoff]
        for event_id in closed:
            del self.events[event_id]
        return closed
