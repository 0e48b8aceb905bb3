"""A withdrawal never loses its retractions: crashed between its two writes, or replayed.

The alerts of a withdrawn case are retracted on the ``alerts`` topic and in ClickHouse before the
case row says ``withdrawn``; the row is what tells a restarted worker that the case is closed.
Here the worker SIGKILLs itself exactly between those writes (``crashing_alerts_worker``), and
is restarted; and a case whose row already says ``withdrawn`` while its alerts are live (what a
crash left behind when the row was written first) is withdrawn again. Either way no alert of the
withdrawn case stays live in ClickHouse or as the latest record of its id on the topic, the other
case keeps exactly its reference alerts, and a withdrawal replayed once more publishes nothing.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.alerts.worker.store import AlertStore
from services.core.clickhouse import clickhouse_client
from services.core.config import Settings
from tests.reference.tracing import reference_contacts
from tests.reliability.city import cases_of, most_connected, recent_start, venues
from tests.reliability.stores import committed_offsets, end_offsets, folded_alerts, read_records
from tests.reliability.waits import wait_while_running
from tests.support.citygen import messy_day
from tests.support.pipeline import (
    AlertKey,
    expected_alerts,
    register_venues,
    report_case,
    stored_alert_row_counts,
    stored_alerts,
    withdraw_case,
)
from tests.support.processes import ServiceProcess, wait_for
from tests.support.scan_topic import produce_messages
from tests.support.stack import isolated_settings

pytestmark = pytest.mark.integration

VENUES = venues(6, prefix="withdraw")
HOUR = 3600
ALERTS_WORKER = "services.alerts.worker"


@pytest.fixture
def traced(stack: Settings, tmp_path: Path) -> Iterator[tuple[Settings, dict]]:
    """A deployment whose scans are all in ``scans``, with a tracer running on them, two cases
    reported (``kept`` and ``withdrawn``) and their reference alerts (both non-empty)."""
    settings = isolated_settings(stack, tmp_path)
    register_venues(settings, VENUES)
    start = recent_start(40)
    day = messy_day(41, venues=list(VENUES), people=120, start=start, hours=24)
    contacts = reference_contacts(day.scans, VENUES)
    kept, withdrawn = cases_of(most_connected(contacts, 2), prefix="wd", onset_at=start + 6 * HOUR)
    expected = {c.case_id: expected_alerts(c, contacts) for c in (kept, withdrawn)}
    assert all(expected.values()), "both cases should alert someone"
    produce_messages(settings, [m for wave in day.waves for m in wave])
    report_case(settings, kept)
    report_case(settings, withdrawn)
    tracer = ServiceProcess("services.tracer", settings, tmp_path / "tracer.log")
    try:
        yield settings, {"kept": kept.case_id, "withdrawn": withdrawn.case_id,
                         "expected": expected, "tracer": tracer}
    finally:
        tracer.stop()


def case_status(settings: Settings, case_id: str) -> str | None:
    rows = clickhouse_client(settings).execute(
        "SELECT status FROM cases FINAL WHERE case_id = %(case)s", {"case": case_id})
    return rows[0][0] if rows else None


def topic_alerts(settings: Settings, case_id: str) -> set[AlertKey]:
    return folded_alerts(settings).get(case_id, set())


def wait_for_reference(settings: Settings, expected: dict[str, set[AlertKey]],
                       workers: list[ServiceProcess]) -> None:
    wait_while_running(
        lambda: all(stored_alerts(settings, cid) == want for cid, want in expected.items()),
        180, "the alerts of both cases equal to the reference", workers, every_s=0.5)


def wait_for_cases_committed(settings: Settings, workers: list[ServiceProcess]) -> None:
    """Until the alerts worker's group has committed every ``cases`` message there is."""
    group, topic = f"{settings.topic_prefix}truyvet-alerts", settings.topic("cases")
    wait_while_running(lambda: committed_offsets(settings, group, topic)
                       == end_offsets(settings, topic), 90,
                       "every cases message committed", workers, every_s=0.5)


def assert_withdrawn_for_good(settings: Settings, traced: dict,
                              workers: list[ServiceProcess]) -> None:
    kept, withdrawn = traced["kept"], traced["withdrawn"]
    wait_while_running(
        lambda: case_status(settings, withdrawn) == "withdrawn"
        and not stored_alerts(settings, withdrawn), 90,
        "the case withdrawn in ClickHouse with no live alert", workers)
    wait_for_cases_committed(settings, workers)
    assert stored_alerts(settings, withdrawn) == set()
    assert topic_alerts(settings, withdrawn) == set()
    assert stored_alerts(settings, kept) == traced["expected"][kept]
    assert topic_alerts(settings, kept) == traced["expected"][kept]
    assert stored_alert_row_counts(settings) == []
    # Replayed once more (a redelivery), the withdrawal has nothing left to publish.
    published = len(read_records(settings, settings.topic("alerts")))
    withdraw_case(settings, withdrawn)
    wait_for_cases_committed(settings, workers)
    assert len(read_records(settings, settings.topic("alerts"))) == published
    assert case_status(settings, withdrawn) == "withdrawn"


def test_a_crash_between_the_retractions_and_the_case_row_loses_no_retraction(
    traced: tuple[Settings, dict], tmp_path: Path
) -> None:
    settings, t = traced
    worker = ServiceProcess("tests.reliability.crashing_alerts_worker", settings,
                            tmp_path / "alerts-crashing.log")
    try:
        wait_for_reference(settings, t["expected"], [t["tracer"], worker])
        withdraw_case(settings, t["withdrawn"])
        wait_for(lambda: not worker.alive(), 60, "the worker to kill itself mid-withdrawal")
        assert worker.proc.returncode == -signal.SIGKILL, worker.log_tail()
        # It died between the two writes: the retractions are out, the row says "reported".
        assert case_status(settings, t["withdrawn"]) == "reported"
        assert topic_alerts(settings, t["withdrawn"]) == set()
        assert stored_alerts(settings, t["withdrawn"]) == set()
        worker.stop()
        worker = ServiceProcess(ALERTS_WORKER, settings, tmp_path / "alerts.log")
        assert_withdrawn_for_good(settings, t, [t["tracer"], worker])
    finally:
        worker.stop()


def test_a_replayed_withdrawal_retracts_the_live_alerts_of_a_case_already_withdrawn(
    traced: tuple[Settings, dict], tmp_path: Path
) -> None:
    settings, t = traced
    worker = ServiceProcess(ALERTS_WORKER, settings, tmp_path / "alerts-1.log")
    try:
        wait_for_reference(settings, t["expected"], [t["tracer"], worker])
        wait_for_cases_committed(settings, [t["tracer"], worker])
        worker.stop()
        # What a crash left when the row was written before the retractions: the case row says
        # "withdrawn", its alerts are live in ClickHouse and on the topic.
        store = AlertStore(settings)
        try:
            found = store.case_of(t["withdrawn"])
            assert found is not None and found[1] == "reported"
            store.write_case(found[0], "withdrawn", int(time.time()), time.time_ns() // 1000)
        finally:
            store.close()
        assert stored_alerts(settings, t["withdrawn"]) == t["expected"][t["withdrawn"]]
        assert topic_alerts(settings, t["withdrawn"]) == t["expected"][t["withdrawn"]]
        worker = ServiceProcess(ALERTS_WORKER, settings, tmp_path / "alerts-2.log")
        withdraw_case(settings, t["withdrawn"])
        assert_withdrawn_for_good(settings, t, [t["tracer"], worker])
    finally:
        worker.stop()
