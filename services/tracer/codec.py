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
from sys import intern

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
    """The batch's scans as the domain takes them.

    Pseudonyms are interned: the state holds each person's scans for the whole retention
    horizon, and one string per person instead of one per scan is about a fifth of its memory.
    """
    venue_id = batch.venue_id
    return [
        Scan(s.event_id, venue_id, intern(s.person_id), s.direction.value,
             int(s.scanned_at.timestamp()))
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


def contact_changes(
    op: Op,
    contact_ids: Sequence[str],
    venue_ids: Sequence[str],
    people_a: Sequence[str],
    people_b: Sequence[str],
    starts: Sequence[int],
    ends: Sequence[int],
    iso: IsoTimes,
) -> list[dict[str, str]]:
    """``ContactChange`` fields of edges given column by column, ready for :func:`encode`."""
    value = op.value
    return [
        {"op": value, "contact_id": contact_id, "venue_id": venue_id, "person_a": a,
         "person_b": b, "start": iso(start), "end": iso(end)}
        for contact_id, venue_id, a, b, start, end
        in zip(contact_ids, venue_ids, people_a, people_b, starts, ends, strict=True)
    ]


def contact_messages(venue_id: str, changes: Sequence[dict[str, str]]) -> list[bytes]:
    """The ``contacts`` messages (JSON of ``ContactBatch``) for one venue's changes, in order.

    More than :data:`MAX_CHANGES_PER_MESSAGE` changes are cut into several messages in the same
    order, which a consumer applying the messages of one partition in order cannot tell apart
    from one message.
    """
    step = MAX_CHANGES_PER_MESSAGE
    return [
        orjson.dumps({"venue_id": venue_id, "changes": changes[i:i + step]})
        for i in range(0, len(changes), step)
    ]
