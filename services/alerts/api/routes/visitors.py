"""A venue's own visitor counts per hour: what its operator may read with the venue's key —
aggregates of its own venue only, each count below ``TRUYVET_MIN_GROUP`` suppressed, never a
person. Days and hours are local (``TRUYVET_TIMEZONE``), as the operator lives them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from schemas.common import Identifier, utc_now
from schemas.registry import Role
from services.alerts.api.context import AGGREGATE_READERS, AlertsContext, context
from services.alerts.api.models import CalendarDate
from services.alerts.api.routes.figures import Count, suppressed
from services.core.http.auth import Principal, requires
from services.core.http.errors import ApiError, refusals

router = APIRouter(prefix="/v1/venues", tags=["venues"])

Reader = Annotated[Principal, Depends(requires(Role.VENUE, *AGGREGATE_READERS))]
LocalDay = Annotated[CalendarDate | None, Query(
    alias="date", description="The local day (TRUYVET_TIMEZONE), YYYY-MM-DD; default today.",
    examples=["2026-11-20"])]


def local_day_window(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC hours ``[since, until)`` that cover local ``day`` in ``zone``.

    Example:
        >>> since, until = local_day_window(date(2026, 11, 20), ZoneInfo("Asia/Ho_Chi_Minh"))
        >>> since.isoformat(), until.isoformat()
        ('2026-11-19T17:00:00+00:00', '2026-11-20T17:00:00+00:00')
    """
    start = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
    following = day + timedelta(days=1)
    end = datetime(following.year, following.month, following.day, tzinfo=zone).astimezone(UTC)
    # A zone whose offset is not whole hours: the UTC hours that overlap the day.
    since = start.replace(minute=0, second=0, microsecond=0)
    until = end if end == end.replace(minute=0, second=0) else (
        end.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1))
    return since, until


class _Public(BaseModel):
    model_config = ConfigDict(frozen=True)


class VisitorHour(_Public):
    start: datetime = Field(description="The hour's start, local time with its UTC offset.")
    scans: Count
    visitors: Count = Field(description="Distinct people who scanned in that hour.")


class VenueVisitors(_Public):
    venue_id: str
    name: str
    date: date
    timezone: str
    min_group: int = Field(description="Counts from 1 to this minus one are null.")
    scans: Count = Field(description="Scans of the whole day.")
    hours: list[VisitorHour]


@router.get("/{venue_id}/visitors", response_model=VenueVisitors,
            responses=refusals(401, 403, 404, 422, 429, 503),
            summary="A venue's scans and visitors per local hour of a day (its own key)")
async def venue_visitors(
    venue_id: Identifier, ctx: Annotated[AlertsContext, Depends(context)], who: Reader,
    day: LocalDay = None,
) -> VenueVisitors:
    if who.role == Role.VENUE and (who.venue is None or who.venue.venue_id != venue_id):
        raise ApiError(403, "a venue key reads only its own venue's counts")
    if not await ctx.known_venue(venue_id):
        raise ApiError(404, f"no venue {venue_id!r} is registered")
    zone = ctx.settings.zone
    day = day or utc_now().astimezone(zone).date()
    since, until = local_day_window(day, zone)
    hours = await ctx.queries.venue_hours(venue_id, since, until)
    venue = ctx.registry.view.venue(venue_id) if ctx.registry is not None else None
    min_group = ctx.settings.min_group
    return VenueVisitors(
        venue_id=venue_id, name=venue.name if venue else venue_id, date=day,
        timezone=ctx.settings.timezone, min_group=min_group,
        scans=suppressed(sum(h.scans for h in hours), min_group),
        hours=[VisitorHour(start=h.hour.astimezone(zone), scans=suppressed(h.scans, min_group),
                           visitors=suppressed(h.people, min_group)) for h in hours],
    )
