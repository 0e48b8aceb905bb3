"""What the reads return: plain values, times as aware UTC datetimes.

An alert has one read shape, :class:`AlertRecord`: the row as stored is what the API serves
(after the reader's view of it, see ``services/alerts/api/views.py``), with no copy in between.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.alerts import Exposure

LAST_STORABLE_S = 2**32 - 1
"""The last second a ClickHouse ``DateTime`` holds."""

CaseStatus = Literal["reported", "withdrawn"]

@dataclass(frozen=True, slots=True)
class CaseRecord:
    """The latest stored version of a case (rule 5)."""

    case_id: str
    person_id: str
    status: CaseStatus
    onset_at: datetime | None
    sampled_at: datetime | None
    reported_at: datetime
    isolated_at: datetime | None
    withdrawn_at: datetime | None

class AlertRecord(BaseModel):
    """Rule 8's alert, as currently stored.

    Output ids are plain ``str`` rather than the input constraints of ``schemas.common``: a
    stored value that some older writer let through must still be readable, not turn into a
    5xx.
    """

    model_config = ConfigDict(frozen=True)

    alert_id: str
    case_id: str
    person_id: str = Field(description="Pseudonym of the exposed person.")
    degree: int = Field(description="1 for F1, 2 for F2, …")
    exposed_at: datetime
    via_person_id: str | None = Field(description="The degree-1-lower person; null for F1.")
    venue_ids: tuple[str, ...]
    exposures: tuple[Exposure, ...] = Field(
        description="The contacts that make this alert, earliest first; in a page of alerts "
        "only the first few (see exposure_count), all of them from the alert's own endpoint."
    )
    exposure_count: int = Field(description="How many exposures the alert has in all.")
    created_at: datetime
    risk_score: float = Field(default=0.0, description="Exposure minutes weighted by the "
                              "case's transmission risk on each day since onset.")
    risk_level: str = Field(default="low", description="low, medium or high.")


@dataclass(frozen=True, slots=True, order=True)
class PageKey:
    """Where a page of a case's alerts ends: the (degree, exposure, alert id) of its last,
    ordered as the pages are."""

    degree: int
    exposed_at: int
    alert_id: str
    risk: int | None = None  # hundredths of risk_score, in risk order only


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """Which of a case's alerts a page lists: degrees and a half-open exposure window."""

    degree_min: int = 1
    degree_max: int = 6
    since: int = 0
    until: int = LAST_STORABLE_S


@dataclass(frozen=True, slots=True)
class AlertPage:
    """Some of a case's alerts, in order, and the key to the next page (None: the last)."""

    alerts: tuple[AlertRecord, ...]
    next_key: PageKey | None

@dataclass(frozen=True, slots=True)
class HourScans:
    """Distinct scans and people in one UTC hour."""

    hour: datetime
    scans: int
    people: int

@dataclass(frozen=True, slots=True)
class VenueScans:
    """A venue's distinct scans over the figures' window; ``name`` is its id if none is stored."""

    venue_id: str
    name: str
    scans: int

@dataclass(frozen=True, slots=True)
class OpenCase:
    """A case that is reported and not withdrawn, with its current alerts by degree."""

    case_id: str
    person_id: str
    reported_at: datetime
    f1: int
    f2: int
    beyond_f2: int

@dataclass(frozen=True, slots=True)
class OpenCases:
    """How many cases are open and how many people they alert; the newest listed one by one."""

    count: int
    f1: int
    f2: int
    beyond_f2: int
    newest: tuple[OpenCase, ...]

@dataclass(frozen=True, slots=True)
class DayCases:
    """Open cases reported on one UTC day, and their current alerts by degree."""

    day: date
    cases: int
    f1: int
    f2: int
    beyond_f2: int


@dataclass(frozen=True, slots=True)
class KindAlerts:
    """Current alerts of open cases of one degree exposed at venues of one kind."""

    venue_kind: str
    degree: int
    alerts: int


@dataclass(frozen=True, slots=True)
class HeadlineFigures:
    """The dashboard's headline numbers over ``[since, until)``, every hour present."""

    since: datetime
    until: datetime
    scans_per_hour: tuple[HourScans, ...]
    busiest_venues: tuple[VenueScans, ...]
    open_cases: OpenCases
    open_since: datetime
    cases_by_day: tuple[DayCases, ...]
    alerts_by_venue_kind: tuple[KindAlerts, ...]



@dataclass(frozen=True, slots=True)
class ContactAlert:
    """One current alert of a case as its contact list needs it (times in epoch seconds)."""

    alert_id: str
    person_id: str
    degree: int
    exposed_at: int
    via_person_id: str
    venue_ids: tuple[str, ...]
    created_at: int
    risk_level: str


@dataclass(frozen=True, slots=True)
class Sealed:
    """A pseudonym's identifier sealed to the authority key ``key_id``."""

    key_id: str
    sealed: str


@dataclass(frozen=True, slots=True)
class FollowUpChange:
    """One recorded change of an alert's follow-up."""

    at: datetime
    state: str
    note: str
    token_id: str
    reported_case_id: str


@dataclass(frozen=True, slots=True)
class PersonAlert:
    """A current alert of an open case naming the person looked up."""

    case_id: str
    alert_id: str
    degree: int
    exposed_at: int
    created_at: int


@dataclass(frozen=True, slots=True)
class ClusterSummary:
    """A current cluster, counts only (rule 12): no case id, no person."""

    cluster_id: str
    venue_id: str
    name: str
    venue_kind: str
    start: datetime
    end: datetime
    cases: int
    visitors: int
    detected_at: datetime


@dataclass(frozen=True, slots=True)
class EventSummary:
    """A declared exposure event with how many current alerts it raised (rule 11)."""

    event_id: str
    venue_id: str
    name: str
    start: datetime
    end: datetime
    action: str
    alerts: int
