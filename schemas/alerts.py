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
