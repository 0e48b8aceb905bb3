"""Which scans of a request are accepted, and why the others are not.

Pure decisions over parsed values: no HTTP, no Kafka. The route hands in the request body and
the authenticated venue; this module returns the pseudonymised scans to publish and a refusal
for every scan that will not be, by index.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson
from pydantic import TypeAdapter, ValidationError

from schemas.scans import MAX_SCANS_PER_MESSAGE, ScanEvent, ScanIn, ScanRefusal
from services.core.http.strict_json import DuplicateKeyError, loads_strict, unique_pairs
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
    reader = ScanItemReader(content_type)
    reader.feed(body)
    return reader.finish()


class ScanItemReader:
    """Reads a scan body as it arrives, refusing it as soon as it holds too many scans.

    NDJSON is parsed line by line while the body is still coming in, so a body of 16 MB of
    ``{}`` lines is refused at its 10,001st line, never held as millions of objects. A JSON
    body is one document and is parsed once complete; one with more objects than the cap
    could hold is read element by element and refused at the first one over the cap.
    Duplicate keys are refused in every format.
    """

    __slots__ = ("_items", "_line", "_ndjson", "_pending")

    def __init__(self, content_type: str) -> None:
        self._ndjson = "ndjson" in content_type or "jsonl" in content_type
        self._items: list[object] = []
        self._pending = bytearray()
        self._line = 0

    def feed(self, chunk: bytes) -> None:
        self._pending += chunk
        if not self._ndjson:
            return
        end = self._pending.rfind(b"\n")
        if end >= 0:
            complete = bytes(self._pending[: end + 1])
            del self._pending[: end + 1]
            self._parse_lines(complete)

    def finish(self) -> list[object]:
        rest, self._pending = bytes(self._pending), bytearray()
        if self._ndjson:
            self._parse_lines(rest)
        elif not rest.strip():
            raise BodyError("the request body is empty")
        else:
            self._parse_document(rest)
        if not self._items:
            raise BodyError("the request body is empty" if self._ndjson else
                            "the request holds no scans")
        return self._items

    def _parse_lines(self, text: bytes) -> None:
        for line in text.splitlines():
            self._line += 1
            if not line.strip():
                continue
            try:
                self._add(loads_strict(line))
            except DuplicateKeyError as exc:
                raise BodyError(f"line {self._line}: {exc}") from exc
            except orjson.JSONDecodeError as exc:
                raise BodyError(f"line {self._line} is not JSON: {exc}") from exc

    def _parse_document(self, body: bytes) -> None:
        if body.count(b"{") > 4 * MAX_SCANS_PER_MESSAGE:
            # More objects than the cap could hold, or braces in strings: find out without
            # building them all.
            self._parse_array_elements(body)
            return
        try:
            parsed = loads_strict(body)
        except DuplicateKeyError as exc:
            raise BodyError(str(exc)) from exc
        except orjson.JSONDecodeError:
            # Scanners that forget the content type still send NDJSON; try it before refusing.
            self._parse_lines(body)
            return
        for item in parsed if isinstance(parsed, list) else [parsed]:
            self._add(item)

    def _parse_array_elements(self, body: bytes) -> None:
        try:
            text = body.decode()
        except UnicodeDecodeError as exc:
            raise BodyError(f"the body is not UTF-8: {exc}") from exc
        position = _skip_space(text, 0)
        if not text.startswith("[", position):
            self._parse_lines(body)  # one object per line, or not JSON at all
            return
        position = _skip_space(text, position + 1)
        try:
            while not text.startswith("]", position):
                item, position = _ELEMENTS.raw_decode(text, position)
                self._add(item)
                position = _skip_space(text, position)
                if text.startswith(",", position):
                    position = _skip_space(text, position + 1)
                    if text.startswith("]", position):
                        raise BodyError(f"the JSON array has a trailing comma at {position}")
                elif not text.startswith("]", position):
                    raise BodyError(f"the JSON array is broken at character {position}")
        except DuplicateKeyError as exc:
            raise BodyError(str(exc)) from exc
        except json.JSONDecodeError as exc:
            raise BodyError(f"the body is not JSON: {exc}") from exc
        if text[position + 1 :].strip():
            raise BodyError("the body has more after its JSON array")

    def _add(self, item: object) -> None:
        self._items.append(item)
        if len(self._items) > MAX_SCANS_PER_MESSAGE:
            raise BodyError(
                f"a request holds at most {MAX_SCANS_PER_MESSAGE} scans; got more "
                "(split the batch)"
            )


_ELEMENTS = json.JSONDecoder(object_pairs_hook=unique_pairs)


def _skip_space(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


@dataclass(slots=True)
class Admission:
    """The outcome for one request."""

    accepted: list[ScanEvent] = field(default_factory=list)
    refused: list[ScanRefusal] = field(default_factory=list)
    duplicates_in_request: int = 0
    identities: dict[str, str] = field(default_factory=dict)
    """Each accepted scan's pseudonym and the normalised identifier it was made of, for the
    sealed directory (``services/ingest/directory.py``); never published as it is."""


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
            normalised, pseudonym = self.pseudonymizer.identify(scan.person_id)
            outcome.identities[pseudonym] = normalised
            # Values were validated as ScanIn; the pseudonym is hex by construction.
            outcome.accepted.append(
                ScanEvent.model_construct(
                    event_id=scan.event_id,
                    person_id=pseudonym,
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
