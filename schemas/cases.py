"""Confirmed cases (F0) and their withdrawal (rule 5)."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from schemas.common import (
    STORABLE_SINCE,
    STORABLE_UNTIL,
    Identifier,
    Pseudonym,
    RawPersonId,
    ShortText,
    UtcDateTime,
    WireModel,
)


class _CaseTimes(WireModel):
    onset_at: UtcDateTime | None = None
    sampled_at: UtcDateTime | None = None
    reported_at: UtcDateTime
    isolated_at: UtcDateTime | None = None

    @model_validator(mode="after")
    def _needs_a_start(self) -> Self:
        if self.onset_at is None and self.sampled_at is None:
            raise ValueError("a case needs onset_at or sampled_at (rule 5)")
        start = self.onset_at or self.sampled_at
        assert start is not None
        if start > self.reported_at:
            raise ValueError("onset_at/sampled_at cannot be after reported_at")
        if self.isolated_at is not None and self.isolated_at < start:
            raise ValueError("isolated_at cannot be before onset_at/sampled_at")
        for name in ("onset_at", "sampled_at", "reported_at", "isolated_at"):
            value = getattr(self, name)
            if value is not None and not STORABLE_SINCE <= value <= STORABLE_UNTIL:
                raise ValueError(
                    f"{name} is outside the times the stores hold "
                    f"({STORABLE_SINCE.isoformat()} to {STORABLE_UNTIL.isoformat()})"
                )
        return self


class CaseIn(_CaseTimes):
    """A confirmed case as a health authority submits it."""

    case_id: Identifier
    person_id: RawPersonId


class CaseReported(_CaseTimes):
    """The ``cases`` topic event for a reported case; ``person_id`` is the pseudonym."""

    kind: Literal["reported"] = "reported"
    case_id: Identifier
    person_id: Pseudonym
    reported_by: str | None = Field(default=None, max_length=64,
                                    description="Id of the authority token that reported it.")
    from_case_id: Identifier | None = Field(
        default=None, description="The case this one was a contact of, when it was reported "
        "from that contact's follow-up (the chain goes on).")


class CaseWithdrawn(WireModel):
    """The ``cases`` topic event that withdraws a mistaken case and its alerts."""

    kind: Literal["withdrawn"] = "withdrawn"
    case_id: Identifier
    withdrawn_at: UtcDateTime
    reason: ShortText | None = None
    withdrawn_by: str | None = Field(default=None, max_length=64,
                                     description="Id of the authority token that withdrew it.")


class CaseAccepted(WireModel):
    case_id: Identifier
    status: Literal["reported", "withdrawn"]


CaseEvent = CaseReported | CaseWithdrawn
CASE_EVENT_DISCRIMINATOR = "kind"
CaseEventField = Field(discriminator=CASE_EVENT_DISCRIMINATOR)
