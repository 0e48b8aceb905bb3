"""Alerts (rule 8): who must be told about a case, at which degree, and why."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.common import Identifier, Op, Pseudonym, UtcDateTime, WireModel


class Exposure(WireModel):
    """One contact that makes a person an F1/F2: where, with whom, when."""

    contact_id: str = Field(min_length=1, max_length=64)
    venue_id: Identifier
    other_person_id: Pseudonym
    start: UtcDateTime
    end: UtcDateTime


class Presence(WireModel):
    """Part of a visit inside an exposure event's window."""

    visit_id: str = Field(min_length=1, max_length=64)
    venue_id: Identifier
    start: UtcDateTime
    end: UtcDateTime


class VenueExposure(WireModel):
    """What a `venue` alert tells of its exposure event."""

    event_id: Identifier
    venue_id: Identifier
    start: UtcDateTime
    end: UtcDateTime
    message: str = Field(default="", max_length=1000)
    action: Literal["inform", "test", "isolate"] = "inform"


class Alert(WireModel):
    """One per (case, person); ``alert_id`` is a function of the two, so replays never duplicate."""

    op: Op = Op.UPSERT
    alert_id: str = Field(min_length=1, max_length=64)
    case_id: Identifier
    person_id: Pseudonym
    degree: int = Field(ge=1, le=6, description="1 for F1, 2 for F2, …")
    exposed_at: UtcDateTime
    via_person_id: Pseudonym | None = None
    venue_ids: list[Identifier]
    exposures: list[Exposure]
    created_at: UtcDateTime
    risk_score: float = Field(
        default=0.0, ge=0,
        description="Exposure minutes weighted by the case's transmission risk on the day of "
                    "each (days since onset; the weights are a setting, Corona-Warn-App's by "
                    "default), to hundredths: who to call first.")
    risk_level: Literal["low", "medium", "high"] = Field(
        default="low", description="risk_score against the medium and high thresholds.")
    kind: Literal["case", "venue"] = Field(
        default="case", description="`case`: traced from a case (case_id); `venue`: from a venue "
                                    "exposure event (case_id is the event_id).")
    event: VenueExposure | None = Field(
        default=None, description="The exposure event behind a `venue` alert.")
    presence: list[Presence] = Field(
        default_factory=list, description="A degree-1 `venue` alert: the parts of the person's "
                                          "visits inside the event's window.")
