"""From ``scans`` message bytes to domain scans, and from domain facts to wire changes.

Decoding goes through the wire model (``ScanBatch.model_validate_json``: validated at the edge).
Encoding the ``contacts`` messages is the tracer's hottest output path - a scan makes several
contact changes - so it writes the JSON of :class:`~schemas.derived.ContactBatch` with orjson
from plain dicts instead of building a pydantic object per change; the field names and formats
are the model's, and every consumer validates them with the model.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import orjson
from annotated_types import MaxLen
from pydantic import ValidationError

from schemas.common import Op
from schemas.derived import ContactBatch
from schemas.scans import ScanBatch
from services.tracer.domain.model import Scan


class UndecodableError(ValueError):
    """The message is not a valid ``ScanBatch``; the reason is the message."""


def _max_changes() -> int:
    for rule in ContactBatch.model_fields["changes"].metadata:
        if isinstance(rule, MaxLen):
            return int(rule.max_length)
    raise RuntimeError("ContactBatch.changes has no max_length")


MAX_CHANGES_PER_MESSAGE = _max_changes()
"""A ``contacts`` message holds at most this many changes (the schema's limit)."""

_UPSERT, _RETRACT = Op.UPSERT.value, Op.RETRACT.value


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


class IsoTimes:
    """Epoch seconds as the wire's UTC timestamps (``2026-11-20T08:15:00Z``), memoised.

    Contact edges share their bounds (an edge starts when the later visit starts), so most
    conversions are repeats; the memo is dropped whenever it grows past ``limit`` entries.
    """

    __slots__ = ("_limit", "_memo")

    def __init__(self, limit: int = 200_000) -> None:
        self._memo: dict[int, str] = {}
        self._limit = limit

    def __call__(self, seconds: int) -> str:
        text = self._memo.get(seconds)
        if text is None:
            if len(self._memo) >= self._limit:
                self._memo.clear()
            text = self._memo[seconds] = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                       time.gmtime(seconds))
        return text


ContactFields = tuple[str, str, str, str, int, int]
"""``(contact_id, venue_id, person_a, person_b, start, end)`` of one contact edge."""


ContactSteps = Sequence[tuple[Sequence[ContactFields], Sequence[ContactFields]]]
"""``(removed, added)`` edges of one venue, one pair per source message, in message order."""


def contact_messages(venue_id: str, steps: ContactSteps, iso: IsoTimes) -> list[bytes]:
    """The ``contacts`` messages (JSON of ``ContactBatch``) for one venue's changes.

    Each step's retractions come before its upserts, and steps keep their order: a later step
    may retract what an earlier one added. More than :data:`MAX_CHANGES_PER_MESSAGE` changes are
    cut into several messages in that same order, which a consumer applying the messages of one
    partition in order cannot tell apart from one message.
    """
    changes = []
    for removed, added in steps:
        changes.extend([_change(_RETRACT, c, iso) for c in removed])
        changes.extend([_change(_UPSERT, c, iso) for c in added])
    step = MAX_CHANGES_PER_MESSAGE
    return [
        orjson.dumps({"venue_id": venue_id, "changes": changes[i:i + step]})
        for i in range(0, len(changes), step)
    ]


def _change(op: str, contact: ContactFields, iso: IsoTimes) -> dict[str, str]:
    contact_id, venue_id, person_a, person_b, start, end = contact
    return {
        "op": op,
        "contact_id": contact_id,
        "venue_id": venue_id,
        "person_a": person_a,
        "person_b": person_b,
        "start": iso(start),
        "end": iso(end),
    }
