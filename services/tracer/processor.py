"""One tracer worker's processing, between Kafka and ClickHouse but touching neither.

The Faust agent hands in raw ``scans`` messages; :class:`TracerCore` decodes them, feeds the
domain state of the message's partition, and returns everything to write: ClickHouse rows,
``contacts`` messages, dead letters and the state segment that makes the step durable. The
agent then writes all of it, and only then lets Faust commit the offsets.

This is the tracer's hot path (several contact changes per scan), so rows carry times as epoch
seconds and days as day numbers (the driver sends them as they are, where a datetime or date
costs it a conversion per value), each contact id is computed once, and ``contacts`` messages are
encoded straight to JSON from the columns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from sys import intern

import orjson

from schemas.common import Op
from schemas.errors import DeadLetter
from services.core.config import DAY_S
from services.core.deadletter import dead_letter
from services.tracer.codec import (
    ContactColumns,
    DecodedBatch,
    IsoTimes,
    UndecodableError,
    contact_messages,
    decode_scan_batch,
)
from services.tracer.domain.delta import Delta
from services.tracer.domain.errors import DomainError
from services.tracer.domain.model import (
    Contact,
    Direction,
    Scan,
    VenueRules,
    Visit,
    contact_ids,
    visit_ids,
)
from services.tracer.domain.state import TracerState
from services.tracer.sink import SinkRows

log = logging.getLogger(__name__)

SERVICE = "tracer"
_DIRECTION_CODE = {"in": 0, "out": 1}
_CODE_DIRECTION: tuple[Direction, Direction] = ("in", "out")

# Visits and contacts are named tuples: they are turned into columns with zip(*facts), which
# relies on this field order.
if Visit._fields != ("venue_id", "person", "start", "end") or Contact._fields != (
    "venue_id", "person_a", "person_b", "start", "end"
):
    raise ImportError("the domain's Visit / Contact fields changed: update this module")


@dataclass(frozen=True, slots=True)
class SourceMessage:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(slots=True)
class StepOutput:
    rows: SinkRows = field(default_factory=SinkRows)
    # (key, value) of each ``contacts`` message, in the order they must be sent.
    contacts: list[tuple[bytes, bytes]] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    segments: list[tuple[int, str, bytes]] = field(default_factory=list)
    scans_seen: int = 0
    contact_changes: int = 0


def in_parts(messages: Iterable[SourceMessage], part_bytes: int) -> Iterator[list[SourceMessage]]:
    """Consecutive runs of ``messages`` of at least ``part_bytes`` of values each (the last one
    may be less): what the tracer computes and stores as one step.

    A part's rows are one insert per table, so its size sets how many parts ClickHouse writes
    and merges: sized in bytes, it holds about as many scans whether venues upload a few dozen
    scans at a time or a thousand. Measured with bench.tracer (default city and crowding 0.3, two
    rounds each): parts of 32 messages (~0.5-1.7 MB) cost ClickHouse 7-18 CPU s and gave 21-26k
    scans/s; 2.5 MB parts 8-9 CPU s and 29-32k scans/s.

    Example:
        >>> sized = [SourceMessage("scans", 0, n, None, b"x" * size)
        ...          for n, size in enumerate([5, 5, 20, 1, 1])]
        >>> [[m.offset for m in part] for part in in_parts(sized, 10)]
        [[0, 1], [2], [3, 4]]
    """
    part: list[SourceMessage] = []
    size = 0
    for message in messages:
        part.append(message)
        size += len(message.value or b"")
        if size >= part_bytes:
            yield part
            part, size = [], 0
    if part:
        yield part


def segment_key(partition: int, offset: int) -> str:
    return f"{partition}:{offset:020d}"


def parse_segment_key(key: str) -> tuple[int, int]:
    partition, _, offset = key.partition(":")
    return int(partition), int(offset)


def encode_segment(venue_id: str, scans: list[Scan]) -> bytes:
    """The state a message added, compactly: what a restarted worker replays (its changelog)."""
    return orjson.dumps(
        {"v": venue_id, "s": [(s.event_id, s.person, _DIRECTION_CODE[s.direction], s.at)
                              for s in scans]}
    )


def decode_segment(value: bytes) -> list[Scan]:
    data = orjson.loads(value)
    venue_id = data["v"]
    return [Scan(e, venue_id, intern(p), _CODE_DIRECTION[d], at) for e, p, d, at in data["s"]]


class TracerCore:
    """Per-partition domain state and the mapping from messages to outputs."""

    def __init__(self, rules_for: Callable[[str], VenueRules]) -> None:
        self._rules_for = rules_for
        self._partitions: dict[int, TracerState] = {}
        self._iso = IsoTimes()

    def has_partition(self, partition: int) -> bool:
        return partition in self._partitions

    def drop_partitions(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self._partitions.pop(partition, None)

    def restore(self, partition: int, segments: Iterable[bytes], horizon: int | None = None) -> int:
        """Rebuild a partition's state from its segments (in offset order), emitting nothing.

        Scans before ``horizon`` are then forgotten and refused from now on, as the live state's
        last purge left it: a restart must not let scans older than the retention back in.
        """
        state = self._partitions[partition] = TracerState()
        restored = 0
        for value in segments:
            scans = decode_segment(value)
            state.apply(scans, self._rules_for)
            restored += len(scans)
        if horizon is not None:
            state.forget_before(horizon)
        return restored

    def purged_segments(self, partition: int, segments: Iterable[tuple[str, bytes]],
                        cutoff: int) -> list[tuple[str, bytes | None]]:
        """After :meth:`forget_before`, each of the partition's segments that changes: rewritten
        with only the scans before ``cutoff`` that the state still holds, or None (a tombstone)
        once it holds none of its scans.

        Forgetting keeps the ``in`` of a visit open across the cutoff, so a restart must restore
        it too. A partition with no state here yet (no message since it was assigned) is asked
        of a state rebuilt from its segments, as its restore would rebuild it.
        """
        ordered = sorted(segments)  # key order is offset order
        state = self._partitions.get(partition)
        if state is None:
            state = TracerState()
            for _, value in ordered:
                state.apply(decode_segment(value), self._rules_for)
            state.forget_before(cutoff)
        changed: list[tuple[str, bytes | None]] = []
        for key, value in ordered:
            scans = decode_segment(value)
            kept = [s for s in scans if s.at >= cutoff or state.holds(s)]
            if len(kept) < len(scans):
                changed.append((key, encode_segment(kept[0].venue_id, kept) if kept else None))
        return changed

    def forget_before(self, cutoff: int) -> int:
        return sum(state.forget_before(cutoff) for state in self._partitions.values())

    def process(self, messages: Iterable[SourceMessage]) -> StepOutput:
        out = StepOutput()
        # venue -> its contact changes, message after message (each retractions, then upserts):
        # a later message may retract what an earlier one of the same step added.
        changes: dict[str, ContactColumns] = {}
        for message in messages:
            state = self._partitions.setdefault(message.partition, TracerState())
            try:
                batch = decode_scan_batch(message.value)
                scans = batch.scans
                delta = state.apply(scans, self._rules_for)
            except (UndecodableError, DomainError) as exc:
                out.dead_letters.append(self._dead(message, str(exc)))
                continue
            out.scans_seen += len(scans)
            if delta.expired:  # dead-lettered below: neither stored nor kept for a restart
                expired = set(delta.expired)
                batch = batch.only([i for i, s in enumerate(scans) if s not in expired])
                scans = batch.scans
            venue_id = batch.venue_id
            out.segments.append(
                (message.partition, segment_key(message.partition, message.offset),
                 encode_segment(venue_id, scans))
            )
            self._scan_rows(batch, message.offset, out.rows)
            self._derived_rows(delta, message.offset, out,
                               changes.setdefault(venue_id, ContactColumns()))
            if delta.expired:
                out.dead_letters.append(self._dead(
                    message,
                    f"{len(delta.expired)} scan(s) older than the retention horizon: "
                    + ", ".join(s.event_id for s in delta.expired[:20]),
                ))
        for venue_id, venue_changes in changes.items():
            key = venue_id.encode()
            out.contacts.extend(
                (key, value) for value in contact_messages(venue_id, venue_changes, self._iso))
        return out

    def _scan_rows(self, batch: DecodedBatch, version: int, rows: SinkRows) -> None:
        scans, n = batch.scans, len(batch.scans)
        times = [s.at for s in scans]
        rows.scans.extend(
            [at // DAY_S for at in times],
            [batch.venue_id] * n,
            [s.event_id for s in scans],
            [s.person for s in scans],
            [s.direction for s in scans],
            times,
            batch.gates,
            [batch.ingested_at] * n,
            [version] * n,
        )

    def _derived_rows(self, delta: Delta, version: int, out: StepOutput,
                      changes: ContactColumns) -> None:
        rows = out.rows
        for deleted, visits in ((1, delta.visits_removed), (0, delta.visits_added)):
            if visits:
                n = len(visits)
                venue_ids, people, starts, ends = zip(*visits, strict=True)
                rows.visits.extend(
                    [start // DAY_S for start in starts], venue_ids, people, starts, ends,
                    visit_ids(visits), [deleted] * n, [version] * n,
                )
        for deleted, op, edges in ((1, Op.RETRACT, delta.contacts_removed),
                                   (0, Op.UPSERT, delta.contacts_added)):
            if not edges:
                continue
            n = len(edges)
            venue_ids, people_a, people_b, starts, ends = zip(*edges, strict=True)
            ids = contact_ids(edges)  # UUID5s: computed once, used twice
            day_column = [start // DAY_S for start in starts]
            flags, versions = [deleted] * n, [version] * n
            rows.contacts.extend(
                day_column, venue_ids, starts, ends, ids, people_a, people_b, flags, versions)
            changes.extend(op, ids, people_a, people_b, starts, ends)
            out.contact_changes += n

    @staticmethod
    def _dead(message: SourceMessage, reason: str) -> DeadLetter:
        return dead_letter(
            service=SERVICE, topic=message.topic, partition=message.partition,
            offset=message.offset, key=message.key, value=message.value, reason=reason,
        )
