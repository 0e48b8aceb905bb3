"""The audit log (``audit`` topic and ClickHouse table): who read which per-person data."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.common import Identifier, UtcDateTime, WireModel

AuditRead = Literal["case_alerts", "case_alert", "case_chain", "venue_graph", "open_cases",
                    "case_contacts", "person_status", "follow_up", "follow_up_history",
                    "event_alerts"]


class AuditEntry(WireModel):
    """One read of per-person data, recorded before it is answered. Append-only."""

    audit_id: str = Field(min_length=1, max_length=64)
    at: UtcDateTime
    token_id: str = Field(min_length=1, max_length=64,
                          description="The reader's token id: the first 16 hex characters of "
                          "its SHA-256, as the registry stores it.")
    role: str = Field(max_length=32)
    what: AuditRead
    case_id: Identifier | None = Field(default=None, description="The case read, if one.")
    subject: str = Field(default="", max_length=200,
                         description="What else names the read: a venue and day, an alert.")
    people: int = Field(ge=0, description="How many people the answer showed.")
