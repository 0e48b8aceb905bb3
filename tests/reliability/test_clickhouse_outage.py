"""ClickHouse stopped for a while mid-stream (on this suite's own stack).

The tracer writes ClickHouse before it commits, and retries a failed write forever;
the alerts worker retries its reads and writes the same way. So while ClickHouse is away both
must pause — the tracer's committed offsets stay where the sunk data ends — and once it is back
they catch up: every fact there exactly once, equal to the reference.

The outage lasts ``TRUYVET_FAULTS_CLICKHOUSE_OUTAGE_S`` seconds (default 30; the product's bar
is a minute, CI time decides the default).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from schemas.registry import Role
from services.core.config import Settings
from tests.reference.tracing import reference_contacts, reference_visits
from tests.reliability.city import cases_of, most_connected, recent_start, venues
from tests.reliability.stores import (
    committed_offsets,
    duplicated_rows,
    end_offsets,
    folded_alerts,
)
from tests.reliability.streams import PacedProducer
from tests.support.citygen import messy_day
from tests.support.pipeline import (
    expected_alerts,
    register_venues,
    report_case,
    stored_alerts,
)
from tests.support.processes import ServiceProcess, running_http_service, wait_for
from tests.support.scan_topic import produce_messages, stored_contacts, stored_visits
from tests.support.stack import grant, isolated_settings
from truyvet.stack import clickhouse

pytestmark = pytest.mark.integration

OUTAGE_S = float(os.environ.get("TRUYVET_FAULTS_CLICKHOUSE_OUTAGE_S", "30"))
VENUES = venues(6, prefix="ch")
HOUR = 3600


def observe(for_s: float, every_s: float, check: Callable[[], None]) -> int:
    """Run ``check`` every ``every_s`` for ``for_s`` seconds (an observation window, not a
    wait: the outage lasts this long whatever happens); return how many times it ran."""
    deadline, runs = time.monotonic() + for_s, 0
    while True:
        began = time.monotonic()
        check()
        runs += 1
        if began + every_s >= deadline:
            return runs
        time.sleep(max(0.0, began + every_s - time.monotonic()))


def test_a_clickhouse_outage_pauses_the_workers_and_loses_nothing(
    faults_stack: Settings, tmp_path: Path, record_property: Any
) -> None:
    settings = isolated_settings(faults_stack, tmp_path)
    register_venues(settings, VENUES)
    authority = grant(settings, Role.AUTHORITY)  # the one role that reads a case's alerts
    start = recent_start(48)
    day = messy_day(13, venues=list(VENUES), people=400, start=start)
    messages = [m for wave in day.waves for m in wave]
    before, during = messages[: len(messages) // 3], messages[len(messages) // 3:]
    contacts = reference_contacts(day.scans, VENUES)
    first_scans = [s for m in before for s in m]
    first_contacts = reference_contacts(first_scans, VENUES)
    case_a, case_b = cases_of(most_connected(contacts, 2), prefix="outage",
                              onset_at=start + 10 * HOUR)
    scans_topic, group = settings.topic("scans"), f"{settings.topic_prefix}truyvet-tracer"
    alerts_url = f"http://{settings.alerts_host}:{settings.alerts_port}"

    report_case(settings, case_a)
    produce_messages(settings, before)
    with running_http_service("services.alerts", settings, alerts_url,
                              tmp_path / "alerts-api.log"):
        workers = [ServiceProcess("services.tracer", settings, tmp_path / "tracer.log"),
                   ServiceProcess("services.alerts.worker", settings, tmp_path / "alerts.log")]
        try:
            wait_for(lambda: stored_visits(settings) == reference_visits(first_scans, VENUES)
                     and stored_alerts(settings, case_a.case_id)
                     == expected_alerts(case_a, first_contacts), 120,
                     "the first third sunk and its alerts raised", 0.5)
            sunk = end_offsets(settings, scans_topic)
            wait_for(lambda: committed_offsets(settings, group, scans_topic) == sunk, 30,
                     "the tracer to commit what it has sunk")

            clickhouse.stop(faults_stack)
            outage_began = time.monotonic()
            refusals: list[tuple[int, str | None]] = []

            def paused() -> None:
                for worker in workers:
                    assert worker.alive(), worker.log_tail()
                committed = committed_offsets(settings, group, scans_topic)
                assert committed == sunk, "the tracer committed offsets it has not sunk"
                with httpx.Client(base_url=alerts_url, timeout=30,
                                  headers={"Authorization": f"Bearer {authority}"}) as http:
                    answer = http.get(f"/v1/cases/{case_a.case_id}/alerts")
                refusals.append((answer.status_code, answer.headers.get("Retry-After")))

            with PacedProducer(settings, during, per_second=len(during) / (OUTAGE_S * 0.6)):
                report_case(settings, case_b)  # its worker must wait for ClickHouse too
                observe(OUTAGE_S - (time.monotonic() - outage_began), 1.0, paused)
            assert end_offsets(settings, scans_topic) != sunk, "nothing arrived in the outage"
            clickhouse.start(faults_stack)
            record_property("outage_s", round(time.monotonic() - outage_began, 1))
            record_property("messages_during_outage", len(during))
            record_property("paused_checks", len(refusals))
            assert refusals and all(status == 503 and retry_after for status, retry_after
                                    in refusals), refusals

            visits = reference_visits(day.scans, VENUES)
            expected = {c.case_id: expected_alerts(c, contacts) for c in (case_a, case_b)}

            def caught_up() -> bool:
                for worker in workers:
                    assert worker.alive(), worker.log_tail()
                return (stored_visits(settings) == visits
                        and stored_contacts(settings) == contacts
                        and all(stored_alerts(settings, cid) == want
                                for cid, want in expected.items()))

            try:
                wait_for(caught_up, 180, "the stores to catch up to the reference", 1.0)
            except AssertionError:
                raise AssertionError(
                    f"not caught up after a {OUTAGE_S:.0f} s ClickHouse outage\n--- tracer ---\n"
                    f"{workers[0].log_tail()}\n--- alerts ---\n{workers[1].log_tail()}"
                ) from None
            wait_for(lambda: committed_offsets(settings, group, scans_topic)
                     == end_offsets(settings, scans_topic), 30, "the tracer to commit it all")
        finally:
            for worker in workers:
                worker.stop()

    assert duplicated_rows(settings) == {}
    folded = folded_alerts(settings)
    assert {cid: folded.get(cid, set()) for cid in expected} == expected
