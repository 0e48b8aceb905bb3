"""The dashboard's headline figures: scans per hour, busiest venues, open cases with F1/F2, by
day and by venue kind — aggregates only, every count below ``TRUYVET_MIN_GROUP`` suppressed
(null), so no figure singles a person out. The list of open cases is for authorities only."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from services.alerts.api.context import AGGREGATE_READERS, PERSON_READERS, AlertsContext, context
from services.alerts.api.views import CaseView
from services.alerts.queries import (
    BUSIEST_VENUES,
    FIGURES_HOURS,
    OPEN_CASES_LISTED,
    DayCases,
    HeadlineFigures,
    HourScans,
    KindAlerts,
    OpenCase,
    VenueScans,
)
from services.core.http.auth import Principal, requires
from services.core.http.errors import refusals

router = APIRouter(prefix="/v1", tags=["figures"])

Reader = Annotated[Principal, Depends(requires(*AGGREGATE_READERS))]


class _Public(BaseModel):
    model_config = ConfigDict(frozen=True)


Count = Annotated[int | None, Field(description="Null: fewer than TRUYVET_MIN_GROUP (but "
                                                "not none), suppressed.")]


def suppressed(count: int, min_group: int) -> int | None:
    """``count``, or None if it is small enough to single a person out (0 is shown).

    Example:
        >>> [suppressed(n, 5) for n in (0, 1, 4, 5, 90)]
        [0, None, None, 5, 90]
    """
    return None if 0 < count < min_group else count


class HourPublic(_Public):
    hour: datetime = Field(description="Start of the UTC hour.")
    scans: Count = Field(description="Distinct scans (an event id counts once).")
    people: Count = Field(description="Distinct people who scanned in that hour.")

    @classmethod
    def of(cls, hour: HourScans, min_group: int) -> HourPublic:
        return cls(hour=hour.hour, scans=suppressed(hour.scans, min_group),
                   people=suppressed(hour.people, min_group))


class BusyVenuePublic(_Public):
    venue_id: str
    name: str = Field(description="The venue's registered name, or its id if none is stored.")
    scans: Count

    @classmethod
    def of(cls, venue: VenueScans, min_group: int) -> BusyVenuePublic:
        return cls(venue_id=venue.venue_id, name=venue.name,
                   scans=suppressed(venue.scans, min_group))


class DayPublic(_Public):
    day: date = Field(description="The UTC day the cases were reported.")
    cases: Count
    f1: Count
    f2: Count
    beyond_f2: Count

    @classmethod
    def of(cls, day: DayCases, min_group: int) -> DayPublic:
        return cls(day=day.day, cases=suppressed(day.cases, min_group),
                   f1=suppressed(day.f1, min_group), f2=suppressed(day.f2, min_group),
                   beyond_f2=suppressed(day.beyond_f2, min_group))


class KindPublic(_Public):
    venue_kind: str
    degree: int
    alerts: Count = Field(description="Current alerts of this degree exposed at a venue of "
                                      "this kind (an alert counts once per kind).")

    @classmethod
    def of(cls, kind: KindAlerts, min_group: int) -> KindPublic:
        return cls(venue_kind=kind.venue_kind, degree=kind.degree,
                   alerts=suppressed(kind.alerts, min_group))


class OpenCasePublic(_Public):
    case_id: str
    person_id: str = Field(description="The F0, in this case's own ids (as its alerts show).")
    reported_at: datetime
    f1: int = Field(description="Current F1 alerts of the case.")
    f2: int = Field(description="Current F2 alerts of the case.")
    beyond_f2: int = Field(description="Current alerts of degree 3 or more (max_degree > 2).")

    @classmethod
    def of(cls, case: OpenCase, view: CaseView) -> OpenCasePublic:
        return cls(case_id=case.case_id, person_id=view.person(case.person_id),
                   reported_at=case.reported_at,
                   f1=case.f1, f2=case.f2, beyond_f2=case.beyond_f2)


class OpenCasesPublic(_Public):
    since: datetime = Field(description="Cases reported before this (the retention horizon) "
                                        "are kept for audit but no longer counted as open.")
    count: Count = Field(description="Open cases: reported, not withdrawn.")
    f1: Count = Field(description="F1 alerts of all open cases.")
    f2: Count = Field(description="F2 alerts of all open cases.")
    beyond_f2: Count
    cases: list[OpenCasePublic] | None = Field(
        description=f"The {OPEN_CASES_LISTED} most recently reported open cases, newest first; "
        "for authority tokens only (null for others)."
    )


class FiguresPublic(_Public):
    """Headline figures over the last 24 whole UTC hours (the current one included)."""

    since: datetime
    until: datetime
    scans: Count = Field(description="Distinct scans in the window.")
    scans_per_hour: list[HourPublic] = Field(
        description=f"{FIGURES_HOURS} hours, oldest first; hours without scans count 0."
    )
    busiest_venues: list[BusyVenuePublic] = Field(
        description=f"Top {BUSIEST_VENUES} venues by distinct scans in the window."
    )
    open_cases: OpenCasesPublic
    cases_by_day: list[DayPublic] = Field(description="Open cases by the day reported.")
    alerts_by_venue_kind: list[KindPublic]

    @classmethod
    def of(cls, figures: HeadlineFigures, min_group: int,
           view: Callable[[str], CaseView] | None) -> FiguresPublic:
        """The figures, small counts suppressed; the open cases listed only if ``view`` (the
        per-case ids of an authority reader) is given."""
        cases = figures.open_cases
        return cls(
            since=figures.since,
            until=figures.until,
            scans=suppressed(sum(hour.scans for hour in figures.scans_per_hour), min_group),
            scans_per_hour=[HourPublic.of(h, min_group) for h in figures.scans_per_hour],
            busiest_venues=[BusyVenuePublic.of(v, min_group) for v in figures.busiest_venues],
            open_cases=OpenCasesPublic(
                since=figures.open_since, count=suppressed(cases.count, min_group),
                f1=suppressed(cases.f1, min_group), f2=suppressed(cases.f2, min_group),
                beyond_f2=suppressed(cases.beyond_f2, min_group),
                cases=None if view is None
                else [OpenCasePublic.of(c, view(c.case_id)) for c in cases.newest],
            ),
            cases_by_day=[DayPublic.of(d, min_group) for d in figures.cases_by_day],
            alerts_by_venue_kind=[KindPublic.of(k, min_group)
                                  for k in figures.alerts_by_venue_kind],
        )


@router.get("/figures", response_model=FiguresPublic, responses=refusals(401, 403, 429, 503),
            summary="Headline figures: scans per hour, busiest venues, open cases with F1/F2")
async def figures(ctx: Annotated[AlertsContext, Depends(context)],
                  who: Reader) -> FiguresPublic:
    now = datetime.now(UTC)
    found = await ctx.queries.headline_figures(now, ctx.settings.retention)
    lists_cases = who.role in PERSON_READERS
    if lists_cases:  # the F0 of each open case listed
        await ctx.audit.record(who, "open_cases", case_id=None,
                               people=len(found.open_cases.newest))
    return FiguresPublic.of(found, ctx.settings.min_group, ctx.view if lists_cases else None)
