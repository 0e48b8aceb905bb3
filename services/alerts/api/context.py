"""What every route needs, created once at start-up and reached through ``request.app.state``."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from schemas.registry import Role
from services.alerts.api.stream import AlertStreams
from services.alerts.queries import AlertsQueries
from services.core.config import Settings

READERS = (Role.DASHBOARD, Role.AUTHORITY, Role.ADMIN)
"""Who may read cases, alerts and graphs. Never venue keys: a venue must not learn who was
exposed, not even among its own visitors."""


@dataclass(slots=True)
class AlertsContext:
    settings: Settings
    queries: AlertsQueries
    streams: AlertStreams


def context(request: Request) -> AlertsContext:
    ctx: AlertsContext = request.app.state.alerts
    return ctx
