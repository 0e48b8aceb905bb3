"""Facts the tracer derives from scans (rules 2–4): visits and contacts, with retractions."""

from __future__ import annotations

from pydantic import Field

from schemas.common import Identifier, Op, Pseudonym, UtcDateTime, WireModel


class VisitChange(WireModel):
    """A visit appearing (``upsert``) or disappearing (``retract``) after new scans."""

    op: Op
    visit_id: str = Field(min_length=1, max_length=64)
    venue_id: Identifier
    person_id: Pseudonym
    start: UtcDateTime
    end: UtcDateTime


class ContactChange(WireModel):
    """A contact edge (rule 3) appearing or disappearing; ``person_a`` < ``person_b``."""

    op: Op
    contact_id: str = Field(min_length=1, max_length=64)
    venue_id: Identifier
    person_a: Pseudonym
    person_b: Pseudonym
    start: UtcDateTime
    end: UtcDateTime


class ContactBatch(WireModel):
    """The value of one ``contacts`` message, keyed by ``venue_id``."""

    venue_id: Identifier
    changes: list[ContactChange] = Field(min_length=1, max_length=10_000)
