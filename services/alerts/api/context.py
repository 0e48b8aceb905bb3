"""What every route needs, created once at start-up and reached through ``request.app.state``."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from fastapi.routing import APIRoute

from schemas.registry import Role
from services.alerts.api.audit import AuditLog
from services.alerts.api.stream import AlertStreams
from services.alerts.api.views import CaseView
from services.alerts.queries import AlertsQueries
from services.core.config import Settings
from services.core.http.errors import ApiError

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

    def view(self, case_id: str) -> CaseView:
        """The per-case pseudonyms an authority reading ``case_id`` is shown."""
        return CaseView(self.settings.read_secret, case_id)


def context(request: Request) -> AlertsContext:
    ctx: AlertsContext = request.app.state.alerts
    return ctx


async def refuse_unknown_query(request: Request) -> None:
    """422 for a query parameter the route does not take: ``?page=2`` silently answered with
    the first page would look like the second."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    unknown = sorted(set(request.query_params) - _query_names(route))
    if unknown:
        known = ", ".join(sorted(_query_names(route))) or "none"
        raise ApiError(422, f"unknown query parameter(s) {', '.join(unknown)}; this endpoint "
                            f"takes: {known}", error="unknown_parameter")


def _query_names(route: APIRoute) -> frozenset[str]:
    known = _QUERY_NAMES.get(route.unique_id)
    if known is None:
        known = _QUERY_NAMES[route.unique_id] = _walk_query_names(route)
    return known


_QUERY_NAMES: dict[str, frozenset[str]] = {}


def _walk_query_names(route: APIRoute) -> frozenset[str]:
    names: set[str] = set()
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        names.update(param.alias for param in dependant.query_params)
        pending.extend(dependant.dependencies)
    return frozenset(names)
