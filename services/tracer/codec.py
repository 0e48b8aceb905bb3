"""From ``scans`` message bytes to domain scans, and from domain facts to wire changes.

Decoding validates each message by the wire model's rules (``ScanBatch``: validated at the edge),
into plain dicts rather than model objects, which costs less than half as much per scan.
Encoding the ``contacts`` messages is the tracer's hottest output path - a scan makes several
contact changes - so it writes the JSON of :class:`~schemas.derived.ContactBatch` with orjson
from the columns it already holds instead of building a pydantic object; the field names and
formats are the model's, and every consumer validates them with the model.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import compress, repeat
from math import floor
from operator import is_, itemgetter
from sys import intern
from typing import Annotated, NotRequired

import orjson
from pydantic import AwareDatetime, ConfigDict, Field, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from schemas.common import Direction, Identifier, Op, Pseudonym
from schemas.derived import MAX_CONTACT_CHANGES
from schemas.scans import MAX_SCANS_PER_MESSAGE, Declaration, ScanBatch
from services.tracer.domain.model import Scan


class UndecodableError(ValueError):
    """The message is not a valid ``ScanBatch``; the reason is the message."""


LAST_STORABLE_S = 2**32 - 1
"""The last second a ClickHouse ``DateTime`` holds (2106-02-07); the first is the epoch."""

_WIRE = ConfigDict(extra="forbid", str_strip_whitespace=True)
""":class:`~schemas.common.WireModel`'s rules, for dicts (which are not frozen)."""


class _ScanFields(TypedDict):
    """A :class:`~schemas.scans.ScanEvent` as the tracer validates it: the same fields and rules,
    left as a dict, with ``scanned_at`` as given (the tracer takes its epoch seconds)."""

    __pydantic_config__ = _WIRE  # type: ignore[misc]
    event_id: Identifier
    person_id: Pseudonym
    direction: Direction
    scanned_at: AwareDatetime
    gate: NotRequired[Identifier | None]
    declaration: NotRequired[Declaration | None]


class _BatchFields(TypedDict):
    """A :class:`~schemas.scans.ScanBatch` as the tracer validates it (see :data:`_BATCH`)."""

    __pydantic_config__ = _WIRE  # type: ignore[misc]
    venue_id: Identifier
    scans: Annotated[list[_ScanFields], Field(min_length=1, max_length=MAX_SCANS_PER_MESSAGE)]
    ingested_at: NotRequired[AwareDatetime]


_BATCH = TypeAdapter(_BatchFields)
"""Validates a ``scans`` message by the wire model's rules into plain dicts.

The model itself costs ~7 µs a scan here, most of it its Python normaliser of each timestamp to
UTC; this ~3 µs. ``tests/unit/test_scan_decoding.py`` holds both to the same verdicts, and a
refused message is validated again with the model for the reason it gives.
"""


@dataclass(frozen=True, slots=True)
class DecodedBatch:
    """A ``scans`` message's content as the tracer uses it (times in epoch seconds)."""

    venue_id: str
    scans: list[Scan]
    gates: list[str]  # each scan's gate, "" when none
    ingested_at: int

    def only(self, kept: Sequence[int]) -> DecodedBatch:
        """The batch with the scans at the ``kept`` positions only."""
        return DecodedBatch(self.venue_id, [self.scans[i] for i in kept],
                            [self.gates[i] for i in kept], self.ingested_at)


def decode_scan_batch(value: bytes | None) -> DecodedBatch:
    """The message's scans as the domain takes them, or :class:`UndecodableError`.

    Pseudonyms are interned: the state holds each person's scans for the whole retention
    horizon, and one string per person instead of one per scan is about a fifth of its memory.
    """
    if value is None:
        raise UndecodableError("empty message value")
    try:
        batch = _BATCH.validate_json(value)
    except ValidationError as exc:
        raise _refusal(value, exc) from None
    venue_id, events = batch["venue_id"], batch["scans"]
    # map rather than a comprehension: the loop runs in C (a message holds up to 2,000 scans).
    times = list(map(floor, map(datetime.timestamp, map(itemgetter("scanned_at"), events))))
    ingested_at = batch.get("ingested_at")
    ingested = floor(ingested_at.timestamp() if ingested_at is not None else time.time())
    if min(times) < 0 or max(times) > LAST_STORABLE_S or not 0 <= ingested <= LAST_STORABLE_S:
        raise UndecodableError("not a ScanBatch: a time outside what ClickHouse holds (1970-2106)")
    return DecodedBatch(
        venue_id,
        [Scan(e["event_id"], venue_id, intern(e["person_id"]), e["direction"].value, at)
         for e, at in zip(events, times, strict=True)],
        [e.get("gate") or "" for e in events],
        ingested,
    )


def _refusal(value: bytes, exc: ValidationError) -> UndecodableError:
    """Why ``value`` is refused, in the words of the wire model (the dicts' words otherwise)."""
    try:
        ScanBatch.model_validate_json(value)
    except ValidationError as refused:
        exc = refused
    except (ValueError, OverflowError):  # e.g. a time the model cannot move to UTC
        pass
    errors = "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
        for e in exc.errors(include_url=False)[:5]
    )
    return UndecodableError(f"not a ScanBatch: {errors}")


def _iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


class IsoTimes:
    """Epoch seconds as the wire's UTC timestamps (``2026-11-20T08:15:00Z``), memoised.

    Contact edges share their bounds (an edge starts when the later visit starts), so most
    conversions are repeats; the memo is dropped when it would grow past ``limit`` entries.
    """

    __slots__ = ("_limit", "_memo")

    def __init__(self, limit: int = 200_000) -> None:
        self._memo: dict[int, str] = {}
        self._limit = limit

    def many(self, seconds: Sequence[int]) -> list[str]:
        """Each of ``seconds`` converted (one venue's edge bounds repeat a lot)."""
        memo = self._memo
        # Every loop here runs in C: a step converts two bounds of millions of contact changes.
        converted = list(map(memo.get, seconds))
        if None not in converted:
            return converted  # type: ignore[return-value]
        missing = set(compress(seconds, map(is_, converted, repeat(None))))
        if len(memo) + len(missing) > self._limit:
            memo.clear()
            missing = set(seconds)
        for value in missing:
            memo[value] = _iso(value)
        return list(map(memo.__getitem__, seconds))


class ContactColumns:
    """One venue's contact changes of a step, column by column, in the order they apply."""

    __slots__ = ("contact_id", "end", "op", "person_a", "person_b", "start")

    def __init__(self) -> None:
        self.op: list[str] = []
        self.contact_id: list[str] = []
        self.person_a: list[str] = []
        self.person_b: list[str] = []
        self.start: list[int] = []
        self.end: list[int] = []

    def __len__(self) -> int:
        return len(self.op)

    def extend(self, op: Op, contact_ids: Sequence[str], people_a: Sequence[str],
               people_b: Sequence[str], starts: Sequence[int], ends: Sequence[int]) -> None:
        """Add edges given column by column (all of the same length), all with ``op``."""
        self.op.extend([op.value] * len(contact_ids))
        self.contact_id.extend(contact_ids)
        self.person_a.extend(people_a)
        self.person_b.extend(people_b)
        self.start.extend(starts)
        self.end.extend(ends)


def contact_messages(venue_id: str, changes: ContactColumns, iso: IsoTimes) -> list[bytes]:
    """One venue's ``contacts`` messages (JSON of :class:`~schemas.derived.ContactBatch`).

    More than :data:`~schemas.derived.MAX_CONTACT_CHANGES` changes are cut into several messages
    in the same order, which a consumer applying the messages of one partition in order cannot
    tell apart from one message.
    """
    messages = []
    for i in range(0, len(changes), MAX_CONTACT_CHANGES):
        cut = slice(i, i + MAX_CONTACT_CHANGES)
        people_a, people_b = changes.person_a[cut], changes.person_b[cut]
        people = list(dict.fromkeys(people_a + people_b))  # each once, first seen first
        index = dict(zip(people, range(len(people)), strict=True)).__getitem__
        messages.append(orjson.dumps({
            "venue_id": venue_id,
            "people": people,
            "op": changes.op[cut],
            "contact_id": changes.contact_id[cut],
            "person_a": list(map(index, people_a)),
            "person_b": list(map(index, people_b)),
            "start": iso.many(changes.start[cut]),
            "end": iso.many(changes.end[cut]),
        }))
    return messages
