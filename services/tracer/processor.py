"""One tracer worker's processing, between Kafka and ClickHouse but touching neither.

The consumer loop hands in raw ``scans`` messages; :class:`TracerCore` decodes them, feeds the
domain state of the message's partition, and returns everything to write: ClickHouse rows,
``contacts`` messages and dead letters. The loop writes all of it, and only then commits.

The state holds a hot window (:meth:`TracerCore.evict_before`). A message whose scans could
change or meet a visit no longer held - an offline gate's upload of days ago - is traced
against the venue's history in ClickHouse (:meth:`TracerCore.process_late`, through a
:class:`History`), with the same domain code, so only the difference is emitted (rules 4, 9).

This is the tracer's hot path (several contact changes per scan), so rows carry times as epoch
seconds and days as day numbers (the driver sends them as they are, where a datetime or date
costs it a conversion per value), each contact id is computed once, and ``contacts`` messages are
encoded straight to JSON from the columns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import floordiv
from typing import Protocol

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
    Scan,
    VenueRules,
    Visit,
    contact_ids,
    visit_ids,
)
from services.tracer.domain.overlap import IndexedVisit
from services.tracer.domain.state import TracerState, VenueState
from services.tracer.sink import SinkRows

log = logging.getLogger(__name__)

SERVICE = "tracer"

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


def _days(times: Sequence[int]) -> list[int]:
    """The day number of each epoch second (``Date`` columns), the loop in C."""
    return list(map(floordiv, times, repeat(DAY_S, len(times))))


class History(Protocol):
    """The system of record's scans and visits of one venue, as the late path reads them."""

    def people_scans(self, venue_id: str, people: Sequence[str],
                     event_ids: Sequence[str]) -> list[Scan]:
        """Every stored scan at the venue of ``people`` and of whoever holds ``event_ids``."""
        ...

    def visits_overlapping(self, venue_id: str, start: int, end: int) -> list[IndexedVisit]:
        """Every live stored visit at the venue that overlaps ``[start, end]``."""
        ...


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

    def restore(self, partition: int, messages: Iterable[SourceMessage],
                held_from: int | None, horizon: int | None) -> int:
        """Rebuild a partition's state from its messages (in offset order), emitting nothing.

        ``held_from``: the time from which the messages hold every scan of the partition (None:
        they are the whole log). Scans before ``horizon`` (the retention) are then forgotten
        and refused from now on, as the live state's last purge left it.
        """
        state = self._partitions[partition] = TracerState(held_from)
        restored = 0
        for message in messages:
            try:
                scans = decode_scan_batch(message.value).scans
            except UndecodableError:
                continue  # dead-lettered when it was first processed
            restored += state.load(scans, self._rules_for)
        state.rederive()
        if horizon is not None:
            state.forget_before(horizon)
        return restored

    def leading_outs(self, partition: int) -> list[tuple[str, str, int]]:
        """:meth:`TracerState.leading_outs` of a restored partition."""
        return self._partitions[partition].leading_outs()

    def restore_predecessors(self, partition: int, scans: Iterable[Scan]) -> None:
        """Give a restored partition the stored scans just before its leading ``out`` s."""
        self._partitions[partition].apply(list(scans), self._rules_for)

    def evict_before(self, cutoff: int) -> int:
        """Let every partition's state go of what only visits ending before ``cutoff`` need."""
        return sum(state.evict_before(cutoff) for state in self._partitions.values())

    def partition_state(self, partition: int) -> TracerState:
        return self._partitions[partition]

    def held_scans(self) -> int:
        return sum(state.scan_count for state in self._partitions.values())

    def forget_before(self, cutoff: int) -> int:
        return sum(state.forget_before(cutoff) for state in self._partitions.values())

    def process(self, messages: Sequence[SourceMessage]) -> tuple[StepOutput, int]:
        """Trace ``messages`` in order with the hot state; return the output and how many
        messages it covers: all, or those before the first that needs the venue's history
        (:meth:`process_late` takes that one, once everything before it is stored)."""
        out = StepOutput()
        # venue -> its contact changes, message after message (each retractions, then upserts):
        # a later message may retract what an earlier one of the same step added.
        changes: dict[str, ContactColumns] = {}
        done = 0
        for message in messages:
            state = self._partitions.setdefault(message.partition, TracerState())
            try:
                batch = decode_scan_batch(message.value)
                scans = batch.scans
                if state.needs_history(scans, self._rules_for):
                    break
                delta = state.apply(scans, self._rules_for)
            except (UndecodableError, DomainError) as exc:
                out.dead_letters.append(self._dead(message, str(exc)))
                done += 1
                continue
            done += 1
            self._emit(message, batch, delta, out, changes)
        self._contact_messages(changes, out)
        return out, done

    def process_late(self, message: SourceMessage, history: History) -> StepOutput:
        """Trace one message against its venue's history in the system of record.

        Everything processed before it must be stored. First the people the message touches
        and their whole stored history give the visits that change; then the stored visits
        around those changes, and the same domain state finds the contacts that change. The
        hot state then takes those people's scans as they now are.
        """
        out = StepOutput()
        state = self._partitions.setdefault(message.partition, TracerState())
        try:
            batch = decode_scan_batch(message.value)
        except UndecodableError as exc:
            out.dead_letters.append(self._dead(message, str(exc)))
            return out
        venue_id, scans = batch.venue_id, batch.scans
        rules = self._rules_for(venue_id)
        people = sorted({s.person for s in scans})
        stored = history.people_scans(venue_id, people, [s.event_id for s in scans])
        try:
            alone = VenueState.for_history(venue_id, rules, stored, (), state.horizon)
            changed = alone.apply(scans, rules)
            visits = changed.visits_added + changed.visits_removed
            neighbours = history.visits_overlapping(
                venue_id, min(v.start for v in visits), max(v.end for v in visits)
            ) if visits else []
            late = VenueState.for_history(venue_id, rules, stored, neighbours, state.horizon)
            delta = late.apply(scans, rules)
        except DomainError as exc:
            out.dead_letters.append(self._dead(message, str(exc)))
            return out
        hot = state.venue_or_new(venue_id)
        hot.adopt(late, late.held_people(), rules)
        state.keep(hot)
        changes: dict[str, ContactColumns] = {}
        self._emit(message, batch, delta, out, changes)
        self._contact_messages(changes, out)
        return out

    def _emit(self, message: SourceMessage, batch: DecodedBatch, delta: Delta, out: StepOutput,
              changes: dict[str, ContactColumns]) -> None:
        scans = batch.scans
        out.scans_seen += len(scans)
        if delta.expired:  # dead-lettered below, not stored
            expired = set(delta.expired)
            batch = batch.only([i for i, s in enumerate(scans) if s not in expired])
            scans = batch.scans
        venue_id = batch.venue_id
        self._scan_rows(batch, message.offset, out.rows)
        self._derived_rows(delta, message.offset, out,
                           changes.setdefault(venue_id, ContactColumns()))
        if delta.expired:
            out.dead_letters.append(self._dead(
                message,
                f"{len(delta.expired)} scan(s) older than the retention horizon: "
                + ", ".join(s.event_id for s in delta.expired[:20]),
            ))

    def _contact_messages(self, changes: dict[str, ContactColumns], out: StepOutput) -> None:
        for venue_id, venue_changes in changes.items():
            key = venue_id.encode()
            out.contacts.extend(
                (key, value) for value in contact_messages(venue_id, venue_changes, self._iso))

    def _scan_rows(self, batch: DecodedBatch, version: int, rows: SinkRows) -> None:
        scans, n = batch.scans, len(batch.scans)
        times = [s.at for s in scans]
        rows.scans.extend(
            _days(times),
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
                    _days(starts), venue_ids, people, starts, ends,
                    visit_ids(visits), [deleted] * n, [version] * n,
                )
        for deleted, op, edges in ((1, Op.RETRACT, delta.contacts_removed),
                                   (0, Op.UPSERT, delta.contacts_added)):
            if not edges:
                continue
            n = len(edges)
            venue_ids, people_a, people_b, starts, ends = zip(*edges, strict=True)
            ids = contact_ids(edges)  # UUID5s: computed once, used twice
            day_column = _days(starts)
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
