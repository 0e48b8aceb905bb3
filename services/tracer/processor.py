"""One tracer worker's processing, between Kafka and ClickHouse but touching neither.

The Faust agent hands in raw ``scans`` messages; :class:`TracerCore` decodes them, feeds the
domain state of the message's partition, and returns everything to write: ClickHouse rows,
``contacts`` messages, dead letters and the state segment that makes the step durable. The
agent then writes all of it, and only then lets Faust commit the offsets.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import orjson

from schemas.derived import ContactBatch
from schemas.errors import DeadLetter
from services.core.clickhouse import utc, utc_day
from services.core.deadletter import dead_letter
from services.tracer.codec import (
    UndecodableError,
    contact_batch,
    decode_scan_batch,
    domain_scans,
)
from services.tracer.domain.delta import Delta
from services.tracer.domain.errors import DomainError
from services.tracer.domain.model import Scan, VenueRules
from services.tracer.domain.state import TracerState
from services.tracer.sink import SinkRows

log = logging.getLogger(__name__)

SERVICE = "tracer"
_DIRECTION_CODE = {"in": 0, "out": 1}
_CODE_DIRECTION = ("in", "out")


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
    contacts: list[ContactBatch] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    segments: list[tuple[int, str, bytes]] = field(default_factory=list)
    scans_seen: int = 0
    contact_changes: int = 0


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
    return [Scan(e, venue_id, p, _CODE_DIRECTION[d], at) for e, p, d, at in data["s"]]


def segment_latest_scan(value: bytes) -> int:
    return max((at for _, _, _, at in orjson.loads(value)["s"]), default=0)


class TracerCore:
    """Per-partition domain state and the mapping from messages to outputs."""

    def __init__(self, rules_for: Callable[[str], VenueRules]) -> None:
        self._rules_for = rules_for
        self._partitions: dict[int, TracerState] = {}

    def has_partition(self, partition: int) -> bool:
        return partition in self._partitions

    def drop_partitions(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self._partitions.pop(partition, None)

    def restore(self, partition: int, segments: Iterable[bytes]) -> int:
        """Rebuild a partition's state from its segments (in offset order), emitting nothing."""
        state = self._partitions[partition] = TracerState()
        restored = 0
        for value in segments:
            scans = decode_segment(value)
            state.apply(scans, self._rules_for)
            restored += len(scans)
        return restored

    def forget_before(self, cutoff: int) -> int:
        return sum(state.forget_before(cutoff) for state in self._partitions.values())

    def process(self, messages: Iterable[SourceMessage]) -> StepOutput:
        out = StepOutput()
        for message in messages:
            state = self._partitions.setdefault(message.partition, TracerState())
            try:
                batch = decode_scan_batch(message.value)
                scans = domain_scans(batch)
                delta = state.apply(scans, self._rules_for)
            except (UndecodableError, DomainError) as exc:
                out.dead_letters.append(self._dead(message, str(exc)))
                continue
            out.scans_seen += len(scans)
            out.segments.append(
                (message.partition, segment_key(message.partition, message.offset),
                 encode_segment(batch.venue_id, scans))
            )
            version = message.offset
            ingested = batch.ingested_at
            out.rows.scans.extend(
                (s.scanned_at.date(), batch.venue_id, s.event_id, s.person_id, s.direction.value,
                 s.scanned_at, s.gate or "", ingested, version)
                for s in batch.scans
            )
            self._derived_rows(delta, version, out)
            if delta.expired:
                out.dead_letters.append(self._dead(
                    message,
                    f"{len(delta.expired)} scan(s) older than the retention horizon: "
                    + ", ".join(s.event_id for s in delta.expired[:20]),
                ))
        return out

    @staticmethod
    def _derived_rows(delta: Delta, version: int, out: StepOutput) -> None:
        rows = out.rows
        for deleted, visits in ((1, delta.visits_removed), (0, delta.visits_added)):
            rows.visits.extend(
                (utc_day(v.start), v.venue_id, v.person, utc(v.start), utc(v.end), v.visit_id,
                 deleted, version)
                for v in visits
            )
        by_venue: dict[str, tuple[list, list]] = {}
        for deleted, contacts in ((1, delta.contacts_removed), (0, delta.contacts_added)):
            for c in contacts:
                start, end, day, cid = utc(c.start), utc(c.end), utc_day(c.start), c.contact_id
                rows.contacts.append(
                    (day, c.venue_id, start, end, cid, c.person_a, c.person_b, deleted, version)
                )
                rows.contacts_by_person.append(
                    (day, c.person_a, start, end, cid, c.person_b, c.venue_id, deleted, version)
                )
                rows.contacts_by_person.append(
                    (day, c.person_b, start, end, cid, c.person_a, c.venue_id, deleted, version)
                )
                by_venue.setdefault(c.venue_id, ([], []))[deleted].append(c)
        for venue_id, (added, removed) in by_venue.items():
            out.contacts.append(contact_batch(venue_id, tuple(added), tuple(removed)))
            out.contact_changes += len(added) + len(removed)

    @staticmethod
    def _dead(message: SourceMessage, reason: str) -> DeadLetter:
        return dead_letter(
            service=SERVICE, topic=message.topic, partition=message.partition,
            offset=message.offset, key=message.key, value=message.value, reason=reason,
        )
