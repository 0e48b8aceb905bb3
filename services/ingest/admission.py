"""Which scans of a request are accepted, and why the others are not.

Pure decisions over parsed values: no HTTP, no Kafka. The route hands in the request body and
the authenticated venue; this module returns the pseudonymised scans to publish and a refusal
for every scan that will not be, by index.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson
from pydantic import TypeAdapter, ValidationError

from schemas.scans import MAX_SCANS_PER_MESSAGE, ScanEvent, ScanIn, ScanRefusal
from services.core.pseudonym import Pseudonymizer
from services.core.secrets import QrSigner

_SCAN_LIST = TypeAdapter(list[ScanIn])


class BodyError(ValueError):
    """The body as a whole cannot be read as scans (not JSON, not NDJSON, too many)."""


class ForeignVenueError(PermissionError):
    """A scan names a venue other than the one whose key signed the request."""


def parse_scan_items(body: bytes, content_type: str) -> list[object]:
    """One JSON object, a JSON array of objects, or NDJSON — as a list of raw items.

    Example:
        >>> parse_scan_items(b'{"a": 1}\\n{"a": 2}\\n', "application/x-ndjson")
        [{'a': 1}, {'a': 2}]
    """
    if not body.strip():
        raise BodyError("the request body is empty")
    if "ndjson" in content_type or "jsonl" in content_type:
        items = _parse_ndjson(body)
    else:
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            # Scanners that forget the content type still send NDJSON; try it before refusing.
            items = _parse_ndjson(body)
        else:
            items = parsed if isinstance(parsed, list) else [parsed]
    if not items:
        raise BodyError("the request holds no scans")
    if len(items) > MAX_SCANS_PER_MESSAGE:
        raise BodyError(
            f"a request holds at most {MAX_SCANS_PER_MESSAGE} scans; got {len(items)} "
            "(split the batch)"
        )
    return items


def _parse_ndjson(body: bytes) -> list[object]:
    items: list[object] = []
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            raise BodyError(f"line {number} is not JSON: {exc}") from exc
    return items


@dataclass(slots=True)
class Admission:
    """The outcome for one request."""

    accepted: list[ScanEvent] = field(default_factory=list)
    refused: list[ScanRefusal] = field(default_factory=list)
    duplicates_in_request: int = 0


@dataclass(frozen=True, slots=True)
class AdmissionPolicy:
    """What the edge refuses: scans from the future beyond a skew, or older than retention."""

    pseudonymizer: Pseudonymizer
    qr_signer: QrSigner
    max_clock_skew: timedelta
    retention: timedelta

    def admit(self, items: list[object], venue_id: str, now: datetime) -> Admission:
        """Validate, check and pseudonymise the scans of one request for ``venue_id``.

        Raises :class:`ForeignVenueError` if any scan names another venue: a key is for one venue.
        """
        scans = self._validate(items)
        outcome = Admission()
        newest, oldest = now + self.max_clock_skew, now - self.retention
        seen: set[str] = set()
        for index, scan in enumerate(scans):
            if isinstance(scan, ScanRefusal):
                outcome.refused.append(scan)
                continue
            if scan.venue_id != venue_id:
                raise ForeignVenueError(
                    f"scan {index} is for venue {scan.venue_id!r}; this key is for {venue_id!r}"
                )
            reason = self._refusal_reason(scan, newest, oldest)
            if reason is not None:
                outcome.refused.append(
                    ScanRefusal(index=index, event_id=scan.event_id, reason=reason)
                )
                continue
            if scan.event_id in seen:
                outcome.duplicates_in_request += 1
                continue
            seen.add(scan.event_id)
            # Values were validated as ScanIn; the pseudonym is hex by construction.
            outcome.accepted.append(
                ScanEvent.model_construct(
                    event_id=scan.event_id,
                    person_id=self.pseudonymizer.pseudonym(scan.person_id),
                    direction=scan.direction,
                    scanned_at=scan.scanned_at,
                    gate=scan.gate,
                    declaration=scan.declaration,
                )
            )
        return outcome

    def _refusal_reason(self, scan: ScanIn, newest: datetime, oldest: datetime) -> str | None:
        if scan.scanned_at > newest:
            return "scanned_at is in the future beyond the allowed clock skew"
        if scan.scanned_at < oldest:
            return "scanned_at is older than the retention horizon"
        if scan.qr is not None and self.qr_signer.venue_of(scan.qr) != scan.venue_id:
            return "qr payload is not a valid signed code of this venue"
        return None

    @staticmethod
    def _validate(items: list[object]) -> list[ScanIn | ScanRefusal]:
        try:
            # Fast path: the whole batch in one call into pydantic-core.
            return list(_SCAN_LIST.validate_python(items))
        except ValidationError:
            pass
        results: list[ScanIn | ScanRefusal] = []
        for index, item in enumerate(items):
            try:
                results.append(ScanIn.model_validate(item))
            except ValidationError as exc:
                event_id = item.get("event_id") if isinstance(item, dict) else None
                results.append(
                    ScanRefusal(
                        index=index,
                        event_id=event_id if isinstance(event_id, str) else None,
                        reason=_describe(exc),
                    )
                )
        return results


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False)[:5]:
        where = ".".join(str(part) for part in error["loc"]) or "scan"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)[:500]
