"""Alerts through the real Kafka and ClickHouse equal the brute-force rules 1–8, whenever the
case is reported relative to the scans, with withdrawals and with the worker killed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.alerts.domain.model import Case
from services.core.config import Settings
from tests.reference.tracing import reference_contacts
from tests.support.citygen import messy_day
from tests.support.pipeline import (
    alerts_from_topic,
    expected_alerts,
    mixed_venues,
    report_case,
    settings_with_venues,
    stored_alert_row_counts,
    stored_alerts,
    withdraw_case,
)
from tests.support.processes import ServiceProcess, wait_for
from tests.support.scan_topic import produce_messages

pytestmark = pytest.mark.integration

VENUES = mixed_venues(4)
HOUR = 3600


@pytest.fixture
def pipeline(
    stack: Settings, tmp_path: Path
) -> Iterator[tuple[Settings, dict[str, ServiceProcess]]]:
    settings = settings_with_venues(stack, tmp_path, VENUES)
    workers = {
        "tracer": ServiceProcess("services.tracer", settings, tmp_path / "tracer.log"),
        "alerts": ServiceProcess("services.alerts.worker", settings, tmp_path / "alerts.log"),
    }
    yield settings, workers
    for worker in workers.values():
        worker.stop()


def most_connected(contacts: set, k: int) -> list[str]:
    degree: dict[str, int] = {}
    for c in contacts:
        for p in (c.person_a, c.person_b):
            degree[p] = degree.get(p, 0) + 1
    return [p for p, _ in sorted(degree.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]


def wait_for_alerts(
    settings: Settings,
    expected: dict[str, set],
    workers: dict[str, ServiceProcess],
    timeout_s: float = 120,
) -> None:
    def settled() -> bool:
        for worker in workers.values():
            assert worker.alive(), worker.log_tail()
        return all(stored_alerts(settings, cid) == want for cid, want in expected.items())

    try:
        wait_for(settled, timeout_s, "ClickHouse alerts to equal the reference", 0.5)
    except AssertionError:
        report = {
            cid: (len(stored_alerts(settings, cid)), len(want)) for cid, want in expected.items()
        }
        raise AssertionError(
            f"(stored, expected) per case: {report}\n" + workers["alerts"].log_tail()
        ) from None


def test_alerts_equal_the_reference_before_during_and_after_the_scans(pipeline) -> None:
    settings, workers = pipeline
    now = int(time.time())
    start = now - 48 * HOUR
    day = messy_day(23, venues=list(VENUES), people=160, start=start, hours=30)
    contacts = reference_contacts(day.scans, VENUES)
    f0s = most_connected(contacts, 4)

    def case(i: int, person: str) -> Case:
        return Case(
            case_id=f"case-{i}", person=person, onset_at=start + 20 * HOUR, reported_at=now - 60
        )

    cases = [case(i, p) for i, p in enumerate(f0s)]
    report_case(settings, cases[0])  # before any scan
    on_time, late = day.waves
    produce_messages(settings, on_time)
    report_case(settings, cases[1])  # in the middle
    produce_messages(settings, late)
    report_case(settings, cases[2])  # after the scans
    report_case(settings, cases[3])
    withdraw_case(settings, cases[3].case_id)

    expected = {c.case_id: expected_alerts(c, contacts) for c in cases[:3]}
    expected[cases[3].case_id] = set()
    degrees = {d for want in expected.values() for _, d, _, _ in want}
    assert degrees == {1, 2}, "the generated day should make both F1 and F2"
    wait_for_alerts(settings, expected, workers)
    folded = alerts_from_topic(settings)
    for case_id, want in expected.items():
        assert folded.get(case_id, set()) == want
    assert stored_alert_row_counts(settings) == []


def test_a_killed_alerts_worker_restarts_to_the_exact_answer_without_duplicates(pipeline) -> None:
    settings, workers = pipeline
    now = int(time.time())
    start = now - 48 * HOUR
    day = messy_day(31, venues=list(VENUES), people=140, start=start, hours=30)
    contacts = reference_contacts(day.scans, VENUES)
    cases = [
        Case(case_id=f"k-{i}", person=p, onset_at=start + 10 * HOUR, reported_at=now - 60)
        for i, p in enumerate(most_connected(contacts, 3))
    ]
    on_time, late = day.waves
    produce_messages(settings, on_time)
    for c in cases:
        report_case(settings, c)
    wait_for(lambda: any(stored_alerts(settings, c.case_id) for c in cases), 90, "the first alerts")
    workers["alerts"].kill()  # SIGKILL mid-stream
    produce_messages(settings, late)
    workers["alerts"] = ServiceProcess(
        "services.alerts.worker", settings, workers["alerts"].log_path
    )
    wait_for_alerts(settings, {c.case_id: expected_alerts(c, contacts) for c in cases}, workers)
    assert stored_alert_row_counts(settings) == []
