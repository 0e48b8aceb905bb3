"""The clusters found and the exposure events declared, for the dashboard: each venue with its
window and counts only (cases, visitors exposed, alerts raised) — no case id, no person, so
every aggregate reader (the dashboard role included) may read them, every small count
suppressed. Who an event alerted is ``GET /v1/exposure-events/{id}/alerts`` (authority, audited).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from services.alerts.api.context import AGGREGATE_READERS, AlertsContext, context
from services.alerts.api.routes.figures import Count, suppressed
from services.alerts.queries import ClusterSummary, EventSummary
from services.core.http.auth import Principal, requires
from services.core.http.errors import refusals

router = APIRouter(prefix="/v1", tags=["figures"])

Reader = Annotated[Principal, Depends(requires(*AGGREGATE_READERS))]


class _Public(BaseModel):
    model_config = ConfigDict(frozen=True)


class ClusterPublic(_Public):
    cluster_id: str
    venue_id: str
    name: str = Field(description="The venue's registered name, or its id if none is stored.")
    venue_kind: str
    start: datetime = Field(description="The first open case's presence in the window.")
    end: datetime = Field(description="The last open case's presence in the window.")
    cases: Count = Field(description="Distinct open cases present within the window.")
    visitors: Count = Field(description="Distinct visitors in the window, the cases included: "
                                        "who a confirmed cluster would alert.")
    detected_at: datetime

    @classmethod
    def of(cls, c: ClusterSummary, min_group: int) -> ClusterPublic:
        return cls(cluster_id=c.cluster_id, venue_id=c.venue_id, name=c.name,
                   venue_kind=c.venue_kind, start=c.start, end=c.end,
                   cases=suppressed(c.cases, min_group),
                   visitors=suppressed(c.visitors, min_group), detected_at=c.detected_at)


class EventSummaryPublic(_Public):
    event_id: str
    venue_id: str
    name: str = Field(description="The venue's registered name, or its id if none is stored.")
    start: datetime
    end: datetime
    action: str = Field(description="What the people present are asked to do: inform, test "
                                    "or isolate.")
    alerts: Count = Field(description="Current alerts the event raised (present and, with "
                                      "`with_contacts`, their contacts).")

    @classmethod
    def of(cls, e: EventSummary, min_group: int) -> EventSummaryPublic:
        return cls(event_id=e.event_id, venue_id=e.venue_id, name=e.name, start=e.start,
                   end=e.end, action=e.action, alerts=suppressed(e.alerts, min_group))


class VenueAlertsPublic(_Public):
    since: datetime = Field(description="Clusters and events ending before this (the open "
                                        "cases' horizon) are not listed.")
    clusters: list[ClusterPublic] = Field(description="Newest detected first (at most 100).")
    exposure_events: list[EventSummaryPublic] = Field(
        description="Declared, not withdrawn; latest window first (at most 100).")


@router.get("/venue-alerts", response_model=VenueAlertsPublic,
            responses=refusals(401, 403, 429, 503),
            summary="Current clusters and declared exposure events by venue (counts only)")
async def venue_alerts(ctx: Annotated[AlertsContext, Depends(context)],
                       who: Reader) -> VenueAlertsPublic:
    since = datetime.now(UTC) - ctx.settings.retention
    clusters = await ctx.queries.current_clusters(since)
    events = await ctx.queries.declared_events(since)
    group = ctx.settings.min_group
    return VenueAlertsPublic(since=since,
                             clusters=[ClusterPublic.of(c, group) for c in clusters],
                             exposure_events=[EventSummaryPublic.of(e, group) for e in events])
