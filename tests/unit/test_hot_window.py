"""The tracer's hot window: a state that lets old scans go still traces every scan exactly.

:class:`TracerCore` is driven as the worker drives it - hot messages through ``process``, a
message that needs its venue's history through ``process_late`` once everything before it is
stored - against an in-memory system of record fed with the rows the core emits. Whatever is
evicted, whenever, and however late the uploads (3 and 20 days), the stored visits and
contacts equal the brute-force reference, and so do those of a core restored from part of the
log.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from services.tracer.domain.model import Scan, VenueRules
from services.tracer.domain.overlap import IndexedVisit
from services.tracer.processor import SourceMessage, StepOutput, TracerCore
from tests.reference.tracing import reference_contacts, reference_visits
from tests.support.citygen import messy_day
from tests.support.scan_topic import batch_of

DAY, HOUR = 86_400, 3_600
NOW = 1_790_000_000
VENUES = {
    "cafe": VenueRules(),
    "clinic": VenueRules(default_dwell=1_800, max_dwell=4 * HOUR, min_overlap=600),
    "market": VenueRules(default_dwell=2 * HOUR, max_dwell=12 * HOUR, min_overlap=0),
    "office": VenueRules(default_dwell=HOUR, max_dwell=10 * HOUR, min_overlap=900),
}


class MemoryRecord:
    """The stores as the sink would leave them: scan rows, and visits and contacts folded by
    version (the message offset), a retraction winning at its version."""

    def __init__(self) -> None:
        self.scans: list[Scan] = []
        self.visits: dict[tuple[str, str, int, int], tuple[int, int]] = {}
        self.contacts: dict[tuple[str, str, str, int, int], tuple[int, int]] = {}
        self.late_reads = 0

    def store(self, out: StepOutput) -> None:
        for _, venue, event_id, person, direction, at, *_ in out.rows.scans.rows():
            self.scans.append(Scan(event_id, venue, person, direction, at))
        for _, venue, person, start, end, _, deleted, version in out.rows.visits.rows():
            self._fold(self.visits, (venue, person, start, end), version, deleted)
        for _, venue, start, end, _, a, b, deleted, version in out.rows.contacts.rows():
            self._fold(self.contacts, (venue, a, b, start, end), version, deleted)

    @staticmethod
    def _fold(table: dict, key: tuple, version: int, deleted: int) -> None:  # type: ignore[type-arg]
        held = table.get(key)
        if held is None or (version, deleted) >= held:
            table[key] = (version, deleted)

    def live_visits(self) -> set[tuple[str, str, int, int]]:
        return {key for key, (_, deleted) in self.visits.items() if not deleted}

    def live_contacts(self) -> set[tuple[str, str, str, int, int]]:
        return {key for key, (_, deleted) in self.contacts.items() if not deleted}

    # History, as services/tracer/history.py reads it from ClickHouse.
    def people_scans(self, venue_id: str, people: Sequence[str],
                     event_ids: Sequence[str]) -> list[Scan]:
        self.late_reads += 1
        ids = set(event_ids)
        wanted = set(people) | {s.person for s in self.scans
                                if s.venue_id == venue_id and s.event_id in ids}
        return [s for s in self.scans if s.venue_id == venue_id and s.person in wanted]

    def visits_overlapping(self, venue_id: str, start: int, end: int) -> list[IndexedVisit]:
        return [(s, e, person) for venue, person, s, e in self.live_visits()
                if venue == venue_id and e >= start and s <= end]


def as_messages(batches: list[list[Scan]], partition: int = 0) -> list[SourceMessage]:
    return [SourceMessage("scans", partition, offset, b[0].venue_id.encode(),
                          batch_of(b).model_dump_json().encode())
            for offset, b in enumerate(batches)]


def run(core: TracerCore, record: MemoryRecord, messages: Sequence[SourceMessage]) -> None:
    """What the worker does with a run of messages: hot parts, late messages between them."""
    pending = list(messages)
    while pending:
        out, done = core.process(pending)
        record.store(out)
        pending = pending[done:]
        if pending:
            record.store(core.process_late(pending[0], record))
            pending = pending[1:]


def late_city(seed: int) -> tuple[list[Scan], list[list[Scan]]]:
    """Three messy days - 20 days ago, 3 days ago and today - whose gates upload on time,
    except those of the old days that upload theirs today, after today's scans."""
    venues = list(VENUES)
    days = [messy_day(seed + n, venues=venues, people=60, start=NOW - ago * DAY - 20 * HOUR,
                      hours=20) for n, ago in enumerate((20, 3, 0))]
    on_time = [m for day in days for m in day.waves[0]]
    late = [m for day in days[:2] for m in day.waves[1]]
    today_late = days[2].waves[1]
    random.Random(seed).shuffle(late)
    scans = [s for day in days for s in day.scans]
    return scans, [*on_time, *today_late, *late]


def reference(scans: list[Scan]) -> tuple[set[tuple], set[tuple]]:  # type: ignore[type-arg]
    return ({tuple(v) for v in reference_visits(scans, VENUES)},
            {tuple(c) for c in reference_contacts(scans, VENUES)})


@pytest.mark.parametrize("seed", [3, 17, 41])
@pytest.mark.parametrize("hot_hours", [1, 6, 30])
def test_a_hot_window_of_any_size_traces_late_uploads_exactly(seed: int, hot_hours: int) -> None:
    scans, batches = late_city(seed)
    messages = as_messages(batches)
    core, record = TracerCore(VENUES.__getitem__), MemoryRecord()
    # Time passes as messages arrive: each step evicts up to the latest scan seen so far.
    newest = 0
    for start in range(0, len(messages), 7):
        step = messages[start:start + 7]
        run(core, record, step)
        newest = max(newest, *(s.at for b in batches[start:start + 7] for s in b))
        core.evict_before(newest - hot_hours * HOUR)
    visits, contacts = reference(scans)
    assert record.live_visits() == visits
    assert record.live_contacts() == contacts
    assert record.late_reads > 0, "the late uploads were traced from the record"
    assert core.held_scans() < len({(s.venue_id, s.event_id) for s in scans})


@pytest.mark.parametrize("seed", [5, 23])
def test_a_restore_from_part_of_the_log_goes_on_exactly(seed: int) -> None:
    scans, batches = late_city(seed)
    messages = as_messages(batches)
    cut = len(messages) * 2 // 3
    first = TracerCore(VENUES.__getitem__)
    record = MemoryRecord()
    run(first, record, messages[:cut])
    # The successor reads the log from where every scan at or after `held_from` is in it.
    held_from = NOW - 10 * HOUR
    start = min((i for i, b in enumerate(batches[:cut]) if max(s.at for s in b) >= held_from),
                default=cut)
    successor = TracerCore(VENUES.__getitem__)
    successor.restore(0, messages[start:cut], held_from, None)
    for venue_id, person, at in successor.leading_outs(0):
        before = [s for s in record.people_scans(venue_id, [person], []) if s.at < at]
        successor.restore_predecessors(0, before)
    run(successor, record, messages[cut:])
    visits, contacts = reference(scans)
    assert record.live_visits() == visits
    assert record.live_contacts() == contacts
