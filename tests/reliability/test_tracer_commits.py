"""The tracer commits exactly what it stored, and a one-hour hot window still traces exactly.

Three messy days - 20 days ago, 3 days ago and today - are in ``scans``, the old days' offline
gates uploading after today's scans, traced by tracers with a hot window of one hour (so nearly
every scan is traced against ClickHouse). While they work, a second worker joins (a rebalance
with batches in flight), the first is SIGKILLed and restarted (a restore from the topic), and a
watcher reads the group's committed offsets back over and over: every message below a committed
offset must already have its scans in ClickHouse. In the end visits and contacts equal the
reference, in ClickHouse and folded from the ``contacts`` topic, with no duplicate live rows.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest

from services.core.config import Settings
from services.tracer.codec import decode_scan_batch
from services.tracer.domain.model import Scan
from tests.reference.tracing import reference_contacts, reference_visits
from tests.reliability.city import venues
from tests.reliability.stores import (
    committed_offsets,
    duplicated_rows,
    folded_contacts,
    read_records,
    stored_event_ids,
)
from tests.reliability.streams import PacedProducer
from tests.reliability.waits import wait_while_running
from tests.support.citygen import messy_day
from tests.support.pipeline import register_venues
from tests.support.processes import ServiceProcess, wait_for
from tests.support.scan_topic import stored_contacts, stored_visits
from tests.support.stack import isolated_settings

pytestmark = pytest.mark.integration

VENUES = venues(12, prefix="hot")
DAY, HOUR = 86_400, 3600


def three_days(now: int) -> tuple[list[Scan], list[list[Scan]]]:
    days = [messy_day(70 + n, venues=list(VENUES), people=250, start=now - ago * DAY - 21 * HOUR,
                      hours=20) for n, ago in enumerate((20, 3, 0))]
    late = [m for day in days[:2] for m in day.waves[1]]
    random.Random(7).shuffle(late)
    messages = [*(m for day in days for m in day.waves[0]), *days[2].waves[1], *late]
    return [s for day in days for s in day.scans], messages


class CommitWatcher:
    """Reads the committed offsets back, then the stored scans, over and over; what each read
    of the offsets covers is checked against the topic's messages at the end."""

    def __init__(self, settings: Settings, group: str) -> None:
        self._settings, self._group = settings, group
        self.snapshots: list[tuple[dict[int, int], set[str]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CommitWatcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        topic = self._settings.topic("scans")
        while not self._stop.is_set():
            committed = committed_offsets(self._settings, self._group, topic)
            # Read after the commits it must cover.
            self.snapshots.append((committed, stored_event_ids(self._settings)))

    def violations(self, by_offset: dict[tuple[int, int], set[str]]) -> list[str]:
        found = []
        for committed, stored in self.snapshots:
            for (partition, offset), event_ids in by_offset.items():
                if offset < committed.get(partition, 0) and not event_ids <= stored:
                    found.append(f"{partition}@{offset} committed ({committed[partition]}) but "
                                 f"{len(event_ids - stored)} of its scans are not stored")
        return found


def test_commits_cover_only_stored_scans_through_a_rebalance_a_kill_and_a_one_hour_window(
    stack: Settings, tmp_path: Path
) -> None:
    settings = isolated_settings(stack, tmp_path, tracer_hot_hours=1)
    register_venues(settings, VENUES)
    scans, messages = three_days(int(time.time()))
    visits, contacts = reference_visits(scans, VENUES), reference_contacts(scans, VENUES)
    group = f"{settings.topic_prefix}truyvet-tracer"
    distinct = len({s.event_id for s in scans})

    def progress() -> int:
        return len(stored_event_ids(settings))

    workers = [ServiceProcess("services.tracer", settings, tmp_path / "tracer-a.log")]
    try:
        with CommitWatcher(settings, group) as watcher:
            with PacedProducer(settings, messages, per_second=15) as stream:
                wait_for(lambda: progress() >= distinct // 6, 180, "a sixth of the scans stored",
                         0.2)
                workers.append(
                    ServiceProcess("services.tracer", settings, tmp_path / "tracer-b.log"))
                wait_for(lambda: progress() >= distinct // 3, 180, "a third of the scans stored",
                         0.2)
                workers[0].kill()
                killed_at = progress()
                workers[0] = ServiceProcess("services.tracer", settings,
                                            tmp_path / "tracer-a2.log")
                assert stream.sent < stream.total, "the tracer was killed after the stream ended"
            wait_while_running(
                lambda: stored_visits(settings) == visits and stored_contacts(settings) == contacts,
                300, "visits and contacts equal to the reference", workers, every_s=1.0)
            final = len(watcher.snapshots)
            wait_for(lambda: len(watcher.snapshots) > final + 2, 60,
                     "the watcher to read the final commits")
    finally:
        for worker in workers:
            worker.stop()
    by_offset: dict[tuple[int, int], set[str]] = {}
    for _, value, partition, offset in read_records(settings, settings.topic("scans")):
        assert value is not None
        by_offset[(partition, offset)] = {s.event_id for s in decode_scan_batch(value).scans}
    assert len(by_offset) == len(messages)
    assert killed_at < distinct
    assert watcher.violations(by_offset) == []
    final_commits = watcher.snapshots[-1][0]
    assert sum(final_commits.values()) == len(messages), "every message committed in the end"
    assert duplicated_rows(settings) == {}
    assert folded_contacts(settings) == contacts
