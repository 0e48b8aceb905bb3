"""What every route needs, created once at start-up and reached through ``request.app.state``."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from schemas.registry import Role
from services.alerts.api.audit import AuditLog
from services.alerts.api.stream import AlertStreams
from services.alerts.api.views import CaseView
from services.alerts.queries import AlertsQueries
from services.core.config import Settings
from services.core.registry_log import RegistryFollower

AGGREGATE_READERS = (Role.DASHBOARD, Role.AUTHORITY, Role.ADMIN)
"""Who may read aggregates (counts by hour, day, venue, venue kind, degree): no person in them.
Never venue keys: a venue must not learn who was exposed, not even among its own visitors."""

PERSON_READERS = (Role.AUTHORITY,)
"""Who may read per-person data: a case's alerts, its chain, the venue-day graphs it touches,
every read audited, every person shown in the ids of that case (``views.CaseView``)."""

STREAM_READERS = (Role.NOTIFIER,)
"""Who may read the live alert stream, with stable pseudonyms: the system that reaches people
and must match its own users."""


@dataclass(slots=True)
class AlertsContext:
    settings: Settings
    queries: AlertsQueries
    streams: AlertStreams
    audit: AuditLog
    # The venues registered (the registry topic): a graph of a venue nobody registered is a
    # 404, not an empty graph that reads as "nobody met there".
    registry: RegistryFollower | None = None

    async def known_venue(self, venue_id: str) -> bool:
        if self.registry is None:
            return True
        if self.registry.view.venue(venue_id) is not None:
            return True
        await self.registry.refresh()  # registered a moment ago, through another replica?
        return self.registry.view.venue(venue_id) is not None

    def view(self, case_id: str) -> CaseView:
        """The per-case pseudonyms an authority reading ``case_id`` is shown."""
        return CaseView(self.settings.read_secret, case_id)


def context(request: Request) -> AlertsContext:
    ctx: AlertsContext = request.app.state.alerts
    return ctx
