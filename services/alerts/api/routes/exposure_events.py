"""A venue exposure event and its current alerts (rule 11), for the authority."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from schemas.common import Identifier
from services.alerts.api.context import PERSON_READERS, AlertsContext, context
from services.alerts.api.views import CaseView
from services.alerts.queries.helpers import utc
from services.alerts.queries.sql import MAX_EVENT_ALERTS
from services.core.http.auth import Principal, requires
from services.core.http.errors import ApiError, refusals

router = APIRouter(prefix="/v1/exposure-events", tags=["exposure events"])


class _Public(BaseModel):
    model_config = ConfigDict(frozen=True)


class EventPublic(_Public):
    event_id: str
    venue_id: str
    start: datetime
    end: datetime
    message: str
    action: str
    min_presence_s: int
    with_contacts: bool
    declared_at: datetime
    status: Literal["declared", "withdrawn"]


class PresencePublic(_Public):
    visit_id: str
    venue_id: str
    start: datetime
    end: datetime


class ContactPublic(_Public):
    contact_id: str
    venue_id: str
    other_person_id: str
    start: datetime
    end: datetime


class EventAlert(_Public):
    alert_id: str
    person_id: str = Field(description="The person, in this event's ids (like a case's).")
    degree: int = Field(description="1: present at the venue; 2: a contact of someone present.")
    exposed_at: datetime
    via_person_id: str | None
    venue_ids: list[str]
    presence: list[PresencePublic] = Field(description="Degree 1: the visits in the window.")
    exposures: list[ContactPublic] = Field(description="Degree 2+: the contacts behind it.")
    risk_score: float
    risk_level: str
    created_at: datetime


class EventAlerts(_Public):
    event: EventPublic
    alerts: list[EventAlert]


@router.get("/{event_id}/alerts", response_model=EventAlerts,
            responses=refusals(401, 403, 404, 410, 422, 429, 503),
            summary="The exposure event and its current alerts (kind venue): who was present, "
                    "and with `with_contacts` their contacts after it")
async def event_alerts(
    event_id: Identifier,
    ctx: Annotated[AlertsContext, Depends(context)],
    who: Annotated[Principal, Depends(requires(*PERSON_READERS))],
    sort: Annotated[Literal["degree", "risk"], Query(
        description="`degree` (present first, earliest first) or `risk` (highest first)."
    )] = "degree",
    limit: Annotated[int, Query(ge=1, le=MAX_EVENT_ALERTS)] = 10_000,
) -> EventAlerts:
    row = await ctx.queries.exposure_event(event_id)
    if row is None:
        raise ApiError(404, f"no exposure event {event_id!r} is known (yet): one declared a "
                            "moment ago appears once the alerts worker has processed it")
    event = EventPublic(event_id=row[0], venue_id=row[1], start=utc(row[2]), end=utc(row[3]),
                        message=row[4], action=row[5], min_presence_s=int(row[6]),
                        with_contacts=bool(row[7]), declared_at=utc(row[8]), status=row[9])
    if event.status == "withdrawn":
        raise ApiError(410, f"exposure event {event_id!r} was withdrawn; its alerts are "
                            "retracted", error="withdrawn")
    rows = await ctx.queries.event_alerts(event_id, limit)
    await ctx.audit.record(who, "event_alerts", case_id=event_id, people=len(rows))
    view = ctx.view(event_id)
    alerts = [_alert(r, view) for r in rows]
    if sort == "risk":
        alerts.sort(key=lambda a: -a.risk_score)  # stable: ties keep the degree order
    return EventAlerts(event=event, alerts=alerts)


def _alert(row: tuple[Any, ...], view: CaseView) -> EventAlert:
    alert_id, person, degree, exposed_at, via, venues, exposures, created, score, level = row
    parts = orjson.loads(exposures)
    return EventAlert(
        alert_id=alert_id, person_id=view.person(person), degree=int(degree),
        exposed_at=utc(exposed_at), via_person_id=view.person(via) if via else None,
        venue_ids=list(venues),
        presence=[PresencePublic(visit_id=p["contact_id"], venue_id=p["venue_id"],
                                 start=p["start"], end=p["end"])
                  for p in parts if not p["other_person_id"]],
        exposures=[ContactPublic(contact_id=p["contact_id"], venue_id=p["venue_id"],
                                 other_person_id=view.person(p["other_person_id"]),
                                 start=p["start"], end=p["end"])
                   for p in parts if p["other_person_id"]],
        risk_score=float(score), risk_level=level, created_at=utc(created))
