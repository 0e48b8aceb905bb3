"""Venue exposure events (rule 11): declared by a health authority, on the ``cases`` topic.

An event is keyed by its ``event_id`` on ``cases``, like a case by its ``case_id``: the alerts
worker that owns the partition holds the event, and a correction (the same id declared again)
or a withdrawal lands in the same partition, after it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, Self

from pydantic import Field, model_validator

from schemas.common import STORABLE_SINCE, STORABLE_UNTIL, Identifier, UtcDateTime, WireModel

MAX_PRESENCE_S = 24 * 3600


class ExposureAction(StrEnum):
    """What the people alerted are asked to do (NHS M1/M2, NZ's recommended action)."""

    INFORM = "inform"
    TEST = "test"
    ISOLATE = "isolate"


class ExposureEventIn(WireModel):
    """An exposure event as a health authority declares it (``POST /v1/exposure-events``)."""

    event_id: Identifier
    venue_id: Identifier
    start: UtcDateTime
    end: UtcDateTime
    message: str = Field(default="", max_length=1000,
                         description="Shown to the people alerted.")
    action: ExposureAction = ExposureAction.INFORM
    min_presence_s: int = Field(
        default=0, ge=0, le=MAX_PRESENCE_S,
        description="Least overlap of a visit with the window that alerts its person; 0: any "
                    "overlap of positive length.")
    with_contacts: bool = Field(
        default=False, description="Also alert the contacts of the people present after their "
                                   "presence (degree 2 by rule 7, declared_at for reported_at).")

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.start >= self.end:
            raise ValueError("start must be before end")
        for name in ("start", "end"):
            if not STORABLE_SINCE <= getattr(self, name) <= STORABLE_UNTIL:
                raise ValueError(f"{name} is outside the times the stores hold")
        return self


class ExposureDeclared(ExposureEventIn):
    """The ``cases`` topic event of a declared (or corrected) exposure event."""

    kind: Literal["exposure_declared"] = "exposure_declared"
    declared_at: UtcDateTime
    declared_by: str | None = Field(default=None, max_length=64,
                                    description="Id of the authority token that declared it.")


class ExposureWithdrawn(WireModel):
    """The ``cases`` topic event that withdraws an exposure event and every alert it made."""

    kind: Literal["exposure_withdrawn"] = "exposure_withdrawn"
    event_id: Identifier
    withdrawn_at: UtcDateTime
    withdrawn_by: str | None = Field(default=None, max_length=64)


class ExposureAccepted(WireModel):
    event_id: Identifier
    status: Literal["declared", "withdrawn"]
