"""SIGKILL of the tracer and of the alerts worker in the middle of a large stream.

Both are killed while work is in flight (scans arriving, contact changes flowing to the alerts
worker) and restarted at once. A SIGKILLed consumer never leaves its group, so its successor
gets the partitions only when the dead member's session expires (10 s): both kills land
within a few seconds so that the two waits overlap and the test stays within CI time.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from services.core.config import Settings
from tests.reference.tracing import reference_contacts, reference_visits
from tests.reliability.city import cases_of, most_connected, recent_start, venues
from tests.reliability.stores import (
    count_rows,
    duplicated_rows,
    folded_alerts,
    folded_contacts,
)
from tests.reliability.streams import PacedProducer
from tests.reliability.waits import wait_while_running
from tests.support.citygen import messy_day
from tests.support.pipeline import (
    expected_alerts,
    register_venues,
    report_case,
    stored_alerts,
)
from tests.support.processes import ServiceProcess, wait_for
from tests.support.scan_topic import stored_contacts, stored_visits
from tests.support.stack import isolated_settings

pytestmark = pytest.mark.integration

VENUES = venues(16)
HOUR = 3600


def test_killed_tracer_and_alerts_worker_restart_to_the_reference_without_duplicates(
    stack: Settings, tmp_path: Path, record_property: Any
) -> None:
    settings = isolated_settings(stack, tmp_path)
    register_venues(settings, VENUES)
    start = recent_start(48)
    day = messy_day(5, venues=list(VENUES), people=1000, start=start)
    messages = [m for wave in day.waves for m in wave]
    visits = reference_visits(day.scans, VENUES)
    contacts = reference_contacts(day.scans, VENUES)
    distinct_scans = len({s.event_id for s in day.scans})
    assert distinct_scans > 4000 and len(messages) > 200
    cases = cases_of(most_connected(contacts, 2), prefix="crash", onset_at=start + 10 * HOUR)
    for case in cases:  # reported first: every contact change below touches an open case
        report_case(settings, case)

    def stored_scans() -> int:
        return count_rows(settings, "SELECT uniqExact(event_id) FROM scans")

    workers = {
        "tracer": ServiceProcess("services.tracer", settings, tmp_path / "tracer.log"),
        "alerts": ServiceProcess("services.alerts.worker", settings, tmp_path / "alerts.log"),
    }

    def restart(name: str, module: str) -> None:
        workers[name].kill()  # SIGKILL of the whole process group
        workers[name] = ServiceProcess(module, settings, workers[name].log_path)

    try:
        with PacedProducer(settings, messages, per_second=12) as stream:
            wait_for(lambda: any(stored_alerts(settings, c.case_id) for c in cases)
                     and stored_scans() >= distinct_scans // 5, 120,
                     "alerts being raised while a fifth of the scans are stored", 0.2)
            restart("alerts", "services.alerts.worker")
            scans_at_alerts_kill = stored_scans()
            wait_for(lambda: stored_scans() >= distinct_scans * 2 // 5, 120,
                     "two fifths of the scans stored", 0.2)
            restart("tracer", "services.tracer")
            scans_at_tracer_kill = stored_scans()
            assert stream.sent < stream.total, "the tracer was killed after the stream ended"

        expected = {c.case_id: expected_alerts(c, contacts) for c in cases}

        def settled() -> bool:
            return (
                stored_visits(settings) == visits
                and stored_contacts(settings) == contacts
                and all(stored_alerts(settings, cid) == want for cid, want in expected.items())
            )

        try:
            wait_while_running(settled, 240, "visits, contacts and alerts equal to the reference",
                               workers.values(), every_s=1.0)
        except AssertionError:
            got_v, got_c = stored_visits(settings), stored_contacts(settings)
            raise AssertionError(
                f"visits missing {len(visits - got_v)} extra {len(got_v - visits)}; "
                f"contacts missing {len(contacts - got_c)} extra {len(got_c - contacts)}; "
                "alerts (stored, expected): "
                f"{[(len(stored_alerts(settings, k)), len(v)) for k, v in expected.items()]}"
                f"\n--- tracer ---\n{workers['tracer'].log_tail()}"
                f"\n--- alerts ---\n{workers['alerts'].log_tail()}"
            ) from None
    finally:
        for worker in workers.values():
            worker.stop()

    record_property("kills", {"alerts_at_scans": scans_at_alerts_kill,
                              "tracer_at_scans": scans_at_tracer_kill, "scans": distinct_scans})
    assert 0 < scans_at_alerts_kill <= scans_at_tracer_kill < distinct_scans
    assert duplicated_rows(settings) == {}
    assert folded_contacts(settings) == contacts
    folded = folded_alerts(settings)
    assert {cid: folded.get(cid, set()) for cid in expected} == expected


def test_a_tracer_killed_at_ten_random_moments_of_one_stream_ends_at_the_reference(
    stack: Settings, tmp_path: Path, record_property: Any
) -> None:
    settings = isolated_settings(stack, tmp_path)
    register_venues(settings, VENUES)
    day = messy_day(9, venues=list(VENUES), people=600, start=recent_start(30))
    messages = [m for wave in day.waves for m in wave]
    visits = reference_visits(day.scans, VENUES)
    contacts = reference_contacts(day.scans, VENUES)
    distinct_scans = len({s.event_id for s in day.scans})
    rng = random.Random(2026)
    # Ten moments, each a share of the stream stored: random, increasing, all before its end.
    moments = sorted(rng.uniform(0.05, 0.9) for _ in range(10))

    def stored_scans() -> int:
        return count_rows(settings, "SELECT uniqExact(event_id) FROM scans")

    log_dir = tmp_path / "tracer"
    log_dir.mkdir()
    tracer = ServiceProcess("services.tracer", settings, log_dir / "run-0.log")
    killed_at = []
    try:
        with PacedProducer(settings, messages, per_second=1) as stream:
            for n, share in enumerate(moments, start=1):
                wait_for(lambda share=share: stored_scans() >= distinct_scans * share,  # type: ignore[misc]
                         180, f"{share:.0%} of the scans stored", 0.1)
                tracer.kill()
                killed_at.append(stored_scans())
                tracer = ServiceProcess("services.tracer", settings, log_dir / f"run-{n}.log")
            assert stream.sent < stream.total, "the last kill came after the stream ended"
        wait_while_running(
            lambda: stored_visits(settings) == visits and stored_contacts(settings) == contacts,
            240, "visits and contacts equal to the reference", [tracer], every_s=1.0)
    finally:
        tracer.stop()
    record_property("tracer_killed_at_scans", killed_at)
    assert killed_at == sorted(killed_at) and killed_at[-1] < distinct_scans
    assert duplicated_rows(settings) == {}
    assert folded_contacts(settings) == contacts
