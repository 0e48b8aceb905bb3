"""From ``scans`` message bytes to domain scans, and from domain facts to wire changes."""

from __future__ import annotations

from pydantic import ValidationError

from schemas.common import Op
from schemas.derived import ContactBatch, ContactChange
from schemas.scans import ScanBatch
from services.core.clickhouse import utc
from services.tracer.domain.model import Contact, Scan


class UndecodableError(ValueError):
    """The message is not a valid ``ScanBatch``; the reason is the message."""


def decode_scan_batch(value: bytes | None) -> ScanBatch:
    if value is None:
        raise UndecodableError("empty message value")
    try:
        return ScanBatch.model_validate_json(value)
    except ValidationError as exc:
        errors = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False)[:5]
        )
        raise UndecodableError(f"not a ScanBatch: {errors}") from exc


def domain_scans(batch: ScanBatch) -> list[Scan]:
    venue_id = batch.venue_id
    return [
        Scan(s.event_id, venue_id, s.person_id, s.direction.value, int(s.scanned_at.timestamp()))
        for s in batch.scans
    ]


def contact_batch(
    venue_id: str, added: tuple[Contact, ...], removed: tuple[Contact, ...]
) -> ContactBatch:
    """The ``contacts`` message for one venue's changes: retractions first, then upserts."""
    changes = [_change(Op.RETRACT, c) for c in removed] + [_change(Op.UPSERT, c) for c in added]
    return ContactBatch.model_construct(venue_id=venue_id, changes=changes)


def _change(op: Op, contact: Contact) -> ContactChange:
    return ContactChange.model_construct(
        op=op,
        contact_id=contact.contact_id,
        venue_id=contact.venue_id,
        person_a=contact.person_a,
        person_b=contact.person_b,
        start=utc(contact.start),
        end=utc(contact.end),
    )
