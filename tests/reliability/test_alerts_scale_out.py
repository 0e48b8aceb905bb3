"""Scale-out of the alerts worker: two workers share the cases, one is SIGKILLed mid-stream.

Cases are reported first, over all four ``cases`` partitions, so every contact change of the
stream below touches open cases of both workers. Once both hold partitions and alerts are being
raised, the first worker is SIGKILLed: it never leaves the group, so its partitions move to the
second when its session expires (10 s); the second re-traces their open cases from ClickHouse and
goes on with the stream. A case is withdrawn after the kill, on whichever worker owns it then.
At the end the alerts in ClickHouse and folded from the ``alerts`` topic equal the brute-force
reference, and no alert has two live rows.
"""

from __future__ import annotations

import logging
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from kafka.admin import KafkaAdminClient
from kafka.partitioner.default import murmur2

from services.core.config import Settings
from services.core.kafka_connection import kafka_options
from tests.reference.tracing import reference_contacts
from tests.reliability.city import cases_of, most_connected, recent_start, venues
from tests.reliability.groups import both_assigned, group_assignment
from tests.reliability.stores import committed_offsets, end_offsets, folded_alerts
from tests.reliability.streams import PacedProducer
from tests.reliability.waits import wait_while_running
from tests.support.citygen import messy_day
from tests.support.pipeline import (
    expected_alerts,
    register_venues,
    report_case,
    stored_alert_row_counts,
    stored_alerts,
    withdraw_case,
)
from tests.support.processes import ServiceProcess
from tests.support.stack import isolated_settings

pytestmark = pytest.mark.integration

VENUES = venues(8, prefix="spread")
CASES_PARTITIONS = Settings().cases_partitions
HOUR = 3600


def case_partition(case_id: str) -> int:
    return (murmur2(case_id.encode()) & 0x7FFFFFFF) % CASES_PARTITIONS


def test_two_alerts_workers_one_killed_mid_stream_end_at_the_reference(
    stack: Settings, tmp_path: Path, record_property: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="kafka.admin._groups")
    settings = isolated_settings(stack, tmp_path)
    register_venues(settings, VENUES)
    start = recent_start(40)
    day = messy_day(13, venues=list(VENUES), people=500, start=start, hours=30)
    messages = [m for wave in day.waves for m in wave]
    contacts = reference_contacts(day.scans, VENUES)
    # "spread-0" … "spread-7" hash onto all four partitions, two each.
    cases = cases_of(most_connected(contacts, 8), prefix="spread", onset_at=start + 8 * HOUR)
    assert {case_partition(c.case_id) for c in cases} == set(range(CASES_PARTITIONS))
    withdrawn = cases[-1].case_id
    expected = {c.case_id: expected_alerts(c, contacts) for c in cases}
    assert all(expected.values()), "every case should alert someone"
    expected[withdrawn] = set()
    for case in cases:
        report_case(settings, case)

    group, topic = f"{settings.topic_prefix}truyvet-alerts", settings.topic("cases")
    workers = [ServiceProcess("services.alerts.worker",
                              settings.model_copy(update={"state_dir": tmp_path / f"w{n}"}),
                              tmp_path / f"alerts-{n}.log") for n in (1, 2)]
    tracer = ServiceProcess("services.tracer", settings, tmp_path / "tracer.log")
    running = [tracer, *workers]
    figures: dict[str, Any] = {"messages": len(messages), "cases": len(cases),
                               "expected_alerts": sum(map(len, expected.values()))}

    def live_alerts() -> int:
        return sum(len(stored_alerts(settings, c.case_id)) for c in cases)

    try:
        with closing(KafkaAdminClient(**kafka_options(settings),
                                      request_timeout_ms=10_000)) as admin:
            wait_while_running(lambda: both_assigned(group_assignment(admin, group, topic)), 90,
                               "both alerts workers in the group with cases partitions",
                               running, every_s=0.2)
            with PacedProducer(settings, messages, per_second=4) as stream:  # a ~30 s stream
                wait_while_running(lambda: live_alerts() > 0
                                   and stream.sent >= stream.total * 2 // 5, 120,
                                   "alerts raised and two fifths of the stream sent", running,
                                   every_s=0.2)
                workers[0].kill()  # SIGKILL: no goodbye to the group
                figures["killed_at_sent"], figures["killed_at_alerts"] = stream.sent, live_alerts()
                assert stream.sent < stream.total, "the worker was killed after the stream"
                withdraw_case(settings, withdrawn)
                killed = time.monotonic()
                wait_while_running(
                    lambda: group_assignment(admin, group, topic) == [set(range(CASES_PARTITIONS))],
                    60, "the second worker alone with every cases partition", [tracer, workers[1]],
                    every_s=0.2)
                figures["takeover_s"] = round(time.monotonic() - killed, 1)
                figures["taken_over_at_sent"] = stream.sent
        survivors = [tracer, workers[1]]
        wait_while_running(
            lambda: all(stored_alerts(settings, cid) == want for cid, want in expected.items()),
            180, "the alerts of every case equal to the reference", survivors, every_s=0.5)
        wait_while_running(lambda: committed_offsets(settings, group, topic)
                           == end_offsets(settings, topic), 30,
                           "every cases message committed", survivors)
    except AssertionError as exc:
        report = {cid: (len(stored_alerts(settings, cid)), len(want))
                  for cid, want in expected.items()}
        logs = "".join(f"\n--- {p.log_path.name} ---\n{p.log_tail(30)}" for p in running)
        raise AssertionError(f"{exc}\n(stored, expected) {report}{logs}") from None
    finally:
        for process in running:
            process.stop()
    record_property("alerts_scale_out", figures)
    folded = folded_alerts(settings)
    assert {cid: folded.get(cid, set()) for cid in expected} == expected
    assert stored_alert_row_counts(settings) == []
