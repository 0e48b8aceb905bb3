"""Scans: what a venue's scanner sends (``ScanIn``) and what ingest puts on ``scans``."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from schemas.common import (
    Direction,
    Identifier,
    Pseudonym,
    RawPersonId,
    UtcDateTime,
    WireModel,
    utc_now,
)

MAX_SCANS_PER_MESSAGE = 10_000
"""A request's accepted scans travel as one message, so publishing them is all-or-nothing."""


class Declaration(WireModel):
    """The short health declaration a person may fill in at the door."""

    fever: bool = False
    cough: bool = False
    shortness_of_breath: bool = False
    contact_with_case: bool = False


class ScanIn(WireModel):
    """One check-in or check-out as a venue submits it over HTTP (rule 1)."""

    event_id: Identifier = Field(description="Client-chosen id; the same id twice counts once.")
    venue_id: Identifier
    person_id: RawPersonId = Field(
        description="What the scanner read: a phone number, however written, or a personal "
        "code. Brought to one spelling (phone numbers in E.164) and replaced by a keyed "
        "pseudonym inside ingest."
    )
    direction: Direction
    scanned_at: UtcDateTime
    gate: Identifier | None = None
    declaration: Declaration | None = None
    qr: str | None = Field(
        default=None,
        max_length=512,
        description="The venue QR payload the person's app scanned; verified when present.",
    )


class ScanEvent(WireModel):
    """A pseudonymised scan as it travels on the ``scans`` topic."""

    event_id: Identifier
    person_id: Pseudonym
    direction: Direction
    scanned_at: UtcDateTime
    gate: Identifier | None = None
    declaration: Declaration | None = None


class ScanBatch(WireModel):
    """The value of one ``scans`` message: scans of one venue, keyed by ``venue_id``.

    Scans travel in batches because per-message cost dominates a stream processor; one venue
    per message keeps every venue's scans in one partition.
    """

    venue_id: Identifier
    scans: list[ScanEvent] = Field(min_length=1, max_length=MAX_SCANS_PER_MESSAGE)
    ingested_at: UtcDateTime = Field(default_factory=utc_now)


class ScanRefusal(WireModel):
    """Why one scan of a request was not accepted."""

    index: int = Field(ge=0, description="Position of the scan in the request (0-based).")
    event_id: str | None = None
    reason: str


class ScanReceipt(WireModel):
    """The body of a ``202``/``422`` answer to ``POST /v1/scans``."""

    accepted: int = Field(ge=0, description="New scans, acknowledged by Kafka.")
    replayed: int = Field(default=0, ge=0, description="Scans this service had acknowledged "
                          "before (a resend): acknowledged again, counted once downstream.")
    duplicates_in_request: int = Field(ge=0, description="Repeats of an event_id within this "
                                       "request, counted once.")
    refused: list[ScanRefusal]
    received_at: datetime
