"""The dashboard's headline figures: scans per hour, busiest venues, open cases with F1/F2."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from services.alerts.api.context import READERS, AlertsContext, context
from services.alerts.queries import (
    BUSIEST_VENUES,
    FIGURES_HOURS,
    OPEN_CASES_LISTED,
    HeadlineFigures,
    HourScans,
    OpenCase,
    VenueScans,
)
from services.core.http.auth import Principal, requires
from services.core.http.errors import refusals

router = APIRouter(prefix="/v1", tags=["figures"])

Reader = Annotated[Principal, Depends(requires(*READERS))]


class _Public(BaseModel):
    model_config = ConfigDict(frozen=True)


class HourPublic(_Public):
    hour: datetime = Field(description="Start of the UTC hour.")
    scans: int = Field(description="Distinct scans (an event id counts once).")
    people: int = Field(description="Distinct people who scanned in that hour.")

    @classmethod
    def of(cls, hour: HourScans) -> HourPublic:
        return cls(hour=hour.hour, scans=hour.scans, people=hour.people)


class BusyVenuePublic(_Public):
    venue_id: str
    name: str = Field(description="The venue's registered name, or its id if none is stored.")
    scans: int

    @classmethod
    def of(cls, venue: VenueScans) -> BusyVenuePublic:
        return cls(venue_id=venue.venue_id, name=venue.name, scans=venue.scans)


class OpenCasePublic(_Public):
    case_id: str
    person_id: str = Field(description="Pseudonym of the F0.")
    reported_at: datetime
    f1: int = Field(description="Current F1 alerts of the case.")
    f2: int = Field(description="Current F2 alerts of the case.")
    beyond_f2: int = Field(description="Current alerts of degree 3 or more (max_degree > 2).")

    @classmethod
    def of(cls, case: OpenCase) -> OpenCasePublic:
        return cls(case_id=case.case_id, person_id=case.person_id, reported_at=case.reported_at,
                   f1=case.f1, f2=case.f2, beyond_f2=case.beyond_f2)


class OpenCasesPublic(_Public):
    since: datetime = Field(description="Cases reported before this (the retention horizon) "
                                        "are kept for audit but no longer counted as open.")
    count: int = Field(description="Open cases: reported, not withdrawn.")
    f1: int = Field(description="F1 alerts of all open cases.")
    f2: int = Field(description="F2 alerts of all open cases.")
    beyond_f2: int
    cases: list[OpenCasePublic] = Field(
        description=f"The {OPEN_CASES_LISTED} most recently reported open cases, newest first."
    )


class FiguresPublic(_Public):
    """Headline figures over the last 24 whole UTC hours (the current one included)."""

    since: datetime
    until: datetime
    scans: int = Field(description="Distinct scans in the window.")
    scans_per_hour: list[HourPublic] = Field(
        description=f"{FIGURES_HOURS} hours, oldest first; hours without scans count 0."
    )
    busiest_venues: list[BusyVenuePublic] = Field(
        description=f"Top {BUSIEST_VENUES} venues by distinct scans in the window."
    )
    open_cases: OpenCasesPublic

    @classmethod
    def of(cls, figures: HeadlineFigures) -> FiguresPublic:
        cases = figures.open_cases
        return cls(
            since=figures.since,
            until=figures.until,
            scans=sum(hour.scans for hour in figures.scans_per_hour),
            scans_per_hour=[HourPublic.of(h) for h in figures.scans_per_hour],
            busiest_venues=[BusyVenuePublic.of(v) for v in figures.busiest_venues],
            open_cases=OpenCasesPublic(
                since=figures.open_since, count=cases.count, f1=cases.f1, f2=cases.f2,
                beyond_f2=cases.beyond_f2, cases=[OpenCasePublic.of(c) for c in cases.newest],
            ),
        )


@router.get("/figures", response_model=FiguresPublic, responses=refusals(401, 403, 429, 503),
            summary="Headline figures: scans per hour, busiest venues, open cases with F1/F2")
async def figures(ctx: Annotated[AlertsContext, Depends(context)], _: Reader) -> FiguresPublic:
    now = datetime.now(UTC)
    return FiguresPublic.of(await ctx.queries.headline_figures(now, ctx.settings.retention))
