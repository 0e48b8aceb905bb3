"""A person's status (``POST /v1/people/status``) and the follow-up of an alert (``PATCH
/v1/cases/{case_id}/alerts/{alert_id}``): HTTP bodies of the authority."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from schemas.common import Identifier, Pseudonym, RawPersonId, ShortText, UtcDateTime, WireModel

FollowUpStateName = Literal["new", "reached", "unreachable", "tested_negative",
                            "tested_positive", "isolating", "released"]


class PersonStatusQuery(WireModel):
    """A raw identifier, in the body (never a URL, which logs and proxies keep)."""

    person_id: RawPersonId


class PseudonymStatusQuery(WireModel):
    """What ingest asks the alerts API once it has pseudonymised a status query."""

    pseudonym: Pseudonym


class CaseInvolvement(WireModel):
    case_id: str = Field(description="The case's id, or the exposure event's (role venue)")
    role: str = Field(description="F0 (the case itself), F1, F2, …, or venue (present at an "
                                  "exposure event)")
    alert_id: str | None = None
    exposed_at: UtcDateTime | None = None
    follow_up_until: UtcDateTime | None = None
    follow_up_state: FollowUpStateName | None = None


class PersonStatus(WireModel):
    """The person's status across open cases and exposure events, as PC-Covid's colours: F0
    red, F1 orange, F2 and beyond yellow, venue exposure yellow, none green."""

    status: str = Field(description="F0, F1, F2, … (the lowest across open cases), venue "
                                    "(present at an open exposure event, nothing closer) or none")
    colour: Literal["red", "orange", "yellow", "green"]
    cases: list[CaseInvolvement]
    earliest_exposure: UtcDateTime | None
    follow_up_until: UtcDateTime | None = Field(
        description="The latest end of the person's follow-up periods.")


class ReportContactCase(WireModel):
    """The contact, positive, reported as a new case in the same call."""

    case_id: Identifier
    onset_at: UtcDateTime | None = None
    sampled_at: UtcDateTime | None = None
    isolated_at: UtcDateTime | None = None

    @model_validator(mode="after")
    def _needs_a_start(self) -> Self:
        if self.onset_at is None and self.sampled_at is None:
            raise ValueError("a case needs onset_at or sampled_at (rule 5)")
        return self


class FollowUpChangeIn(WireModel):
    state: FollowUpStateName
    note: ShortText | None = None
    report_case: ReportContactCase | None = Field(
        default=None, description="With state tested_positive: report the contact as a new case "
        "linked to this one, so the chain goes on.")
