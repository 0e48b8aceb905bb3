"""Rule 10: after the purge, scans, visits and contacts older than the horizon are gone from
ClickHouse and from the tracer's state, live and after a restart; cases and alerts stay for audit.

Old data is produced straight into ``scans`` (ingest refuses it at the door) and traced while
it is still within a longer horizon; then the tracer restarts with the 21-day one, the way time
would pass. The purge runs once, on request (``purging_tracer``), with an explicit cutoff instead
of on the hourly timer; the tests below then look at its result.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import pytest

from schemas.errors import DeadLetter
from services.alerts.domain.model import Case
from services.core.clickhouse import utc_day
from services.core.config import Settings
from services.tracer.domain.model import Contact, Scan, Visit
from services.tracer.sink import RETENTION_TABLES
from tests.reference.tracing import reference_contacts, reference_visits
from tests.reliability import purging_tracer
from tests.reliability.city import most_connected, venues
from tests.reliability.stores import (
    contacts_read,
    count_rows,
    end_offsets,
    read_records,
)
from tests.reliability.waits import wait_while_running
from tests.support.citygen import messy_day
from tests.support.pipeline import expected_alerts, register_venues, report_case, stored_alerts
from tests.support.processes import ServiceProcess
from tests.support.scan_topic import produce_messages, stored_contacts, stored_visits
from tests.support.stack import isolated_settings

pytestmark = pytest.mark.integration

VENUES = venues(3, prefix="ret")
VENUE = next(iter(VENUES))
DAY, HOUR = 86_400, 3600


@dataclass
class Purged:
    settings: Settings
    cutoff: int
    old: list[Scan]
    recent: list[Scan]
    across: tuple[Scan, Scan]  # an `in` before the cutoff, its `out` after it
    expected_alerts: dict[str, set[tuple[str, int, int, str | None]]]
    old_case_person: str
    workers: dict[str, ServiceProcess]
    log_dir: Path

    def restart_tracer(self) -> None:
        self.workers["tracer"].stop()
        self.workers["tracer"] = ServiceProcess("tests.reliability.purging_tracer",
                                                self.settings, self.log_dir / "tracer.log")


def other_people(scans: list[Scan]) -> list[Scan]:
    """The same day lived by other people: old and recent days share nobody."""
    return [replace(s, person=hashlib.sha256(f"old-{s.person}".encode()).hexdigest())
            for s in scans]


def rows_before(settings: Settings, day: date) -> dict[str, int]:
    return {t: count_rows(settings, f"SELECT count() FROM {t} WHERE day < '{day.isoformat()}'")
            for t in RETENTION_TABLES}


@pytest.fixture(scope="module")
def purged(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Purged]:
    log_dir = tmp_path_factory.mktemp("retention")
    settings = isolated_settings(stack, log_dir)
    # Loaded while the old day is still within the horizon; then "time passes": the tracer
    # restarts with the 21-day horizon, the old day now beyond it, and purges.
    loading = settings.model_copy(update={"retention_days": 30})
    register_venues(settings, VENUES)
    now = int(time.time())
    cutoff = now - settings.retention_days * DAY
    old_day = messy_day(61, venues=list(VENUES), people=70, start=now - 26 * DAY, hours=20)
    recent_day = messy_day(62, venues=list(VENUES), people=70, start=now - 48 * HOUR, hours=20)
    old = other_people(old_day.scans)
    old_messages = [other_people(m) for wave in old_day.waves for m in wave]
    recent_messages = [m for wave in recent_day.waves for m in wave]
    across = (Scan("across-in", VENUE, "f" * 64, "in", cutoff - 20 * 60),  # a message alone
              Scan("across-out", VENUE, "f" * 64, "out", cutoff + 30 * 60))
    produce_messages(settings, [*old_messages, *recent_messages, [across[0]], [across[1]]])
    everything = [*old, *recent_day.scans, *across]
    # Reported 20 days ago, so still open (re-traced on contact changes); its contacts, from
    # before the onset, are beyond the horizon.
    old_case = Case(case_id="ret-old", person=most_connected(
        reference_contacts(old, VENUES), 1)[0], onset_at=now - 26 * DAY + 8 * HOUR,
        reported_at=now - 20 * DAY)
    new_case = Case(case_id="ret-new", person=most_connected(
        reference_contacts(recent_day.scans, VENUES), 1)[0], onset_at=now - 40 * HOUR,
        reported_at=now - 60)
    contacts = reference_contacts(everything, VENUES)
    expected = {c.case_id: expected_alerts(c, contacts) for c in (old_case, new_case)}
    assert all(expected.values())

    workers = {
        "tracer": ServiceProcess("services.tracer", loading, log_dir / "tracer-loading.log"),
        "alerts": ServiceProcess("services.alerts.worker", settings, log_dir / "alerts.log"),
    }
    try:
        wait_while_running(lambda: stored_visits(settings) == reference_visits(everything,
                                                                                VENUES),
                           120, "every scan, old and recent, traced", workers.values())
        for case in (old_case, new_case):
            report_case(settings, case)
        wait_while_running(lambda: all(stored_alerts(settings, cid) == want
                                       for cid, want in expected.items()), 120,
                           "the alerts of both cases", workers.values())
        assert all(rows_before(settings, utc_day(cutoff)).values())
        workers["tracer"].stop()
        workers["tracer"] = ServiceProcess("tests.reliability.purging_tracer", settings,
                                           log_dir / "tracer.log")
        request = purging_tracer.request_file(settings)
        request.parent.mkdir(parents=True, exist_ok=True)
        request.write_text(str(cutoff))
        wait_while_running(purging_tracer.done_file(settings).exists, 60, "the purge",
                           workers.values())
        yield Purged(settings, cutoff, old, recent_day.scans, across, expected, old_case.person,
                     workers, log_dir)
    finally:
        for worker in workers.values():
            worker.stop()


def test_clickhouse_keeps_nothing_older_than_the_horizon_and_all_that_is_newer(
    purged: Purged,
) -> None:
    settings, cutoff = purged.settings, purged.cutoff
    assert rows_before(settings, utc_day(cutoff)) == dict.fromkeys(RETENTION_TABLES, 0)
    across_in, across_out = purged.across
    across = Visit(VENUE, across_in.person, across_in.at, across_out.at)
    kept_across = {across} if utc_day(across.start) >= utc_day(cutoff) else set()
    assert stored_visits(settings) == reference_visits(purged.recent, VENUES) | kept_across
    recent_contacts: set[Contact] = reference_contacts(purged.recent, VENUES)
    assert stored_contacts(settings) == recent_contacts


def test_cases_and_alerts_stay_for_audit_even_when_an_open_case_is_retraced(
    purged: Purged,
) -> None:
    settings = purged.settings
    assert count_rows(settings, "SELECT count() FROM cases FINAL") == 2
    for case_id, want in purged.expected_alerts.items():
        assert stored_alerts(settings, case_id) == want, case_id
    # The old case's F0 meets someone today: a contact change that re-traces the open case.
    now, f0 = int(time.time()), purged.old_case_person
    produce_messages(settings, [[Scan("audit-1", VENUE, f0, "in", now - 5 * HOUR),
                                 Scan("audit-2", VENUE, "d" * 64, "in", now - 5 * HOUR)]])
    topic = settings.topic("contacts")
    wait_while_running(lambda: count_rows(settings, "SELECT count() FROM contacts FINAL WHERE "
                                          f"person_a = '{f0}' OR person_b = '{f0}'") > 0
                       and contacts_read(settings.state_dir) == end_offsets(settings, topic),
                       90, "the alerts worker to take the new contact", purged.workers.values())
    for case_id, want in purged.expected_alerts.items():
        assert stored_alerts(settings, case_id) == want, case_id


def test_scans_older_than_the_horizon_are_refused_live_and_after_a_restart(
    purged: Purged,
) -> None:
    settings, now = purged.settings, int(time.time())
    for attempt in ("live", "restarted"):
        if attempt == "restarted":
            purged.restart_tracer()
        late_old = Scan(f"late-old-{attempt}", VENUE, "e" * 64, "in", now - 25 * DAY)
        late_new = Scan(f"late-new-{attempt}", VENUE, "e" * 64, "in", now - 3 * HOUR)
        produce_messages(settings, [[late_old], [late_new]])
        wait_while_running(
            lambda new=late_new.event_id: count_rows(  # type: ignore[misc]
                settings, f"SELECT count() FROM scans WHERE event_id = '{new}'"),
            90, f"a recent scan after the purge ({attempt})", purged.workers.values())
        # The tracer writes rows before it sends dead letters: wait for the refusal too.
        def refused(old: str = late_old.event_id) -> bool:
            letters = [DeadLetter.model_validate_json(v or b"") for _, v, _, _ in
                       read_records(settings, settings.topic("dead-letter"))]
            return any(old in d.reason and "retention" in d.reason for d in letters)

        wait_while_running(refused, 60, f"{attempt}: the old scan refused to dead-letter",
                           purged.workers.values())
        assert rows_before(settings, utc_day(purged.cutoff)) == dict.fromkeys(
            RETENTION_TABLES, 0), f"{attempt}: rows older than the horizon are back"
