"""Kafka stopped and restarted while venues push scans over HTTP (on this suite's own stack).

Ingest answers ``202`` only after Kafka acknowledged a request's scans, so every scan that got a
``202`` must reach the final stores; while the broker is away the answer is ``503`` with
``Retry-After`` (never ``500``, never ``202``), and gates that retry as told get everything in.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from schemas.registry import Role
from services.core.config import Settings
from services.tracer.domain.model import Scan
from tests.reliability.city import recent_start
from tests.reliability.gates import Gate, GateLog
from tests.reliability.stores import stored_event_ids, wait_for_the_reference_stores
from tests.reliability.waits import wait_while_running
from tests.support.citygen import messy_day
from tests.support.processes import ServiceProcess, running_http_service, wait_for
from tests.support.stack import grant, isolated_settings
from truyvet.stack import kafka

pytestmark = pytest.mark.integration

VENUE_IDS = ["gate-office", "gate-market", "gate-clinic", "gate-school"]


def register(url: str, admin: str) -> dict[str, str]:
    keys = {}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"},
                      timeout=30) as http:
        for venue_id in VENUE_IDS:
            answer = http.post("/v1/venues", json={"venue_id": venue_id, "name": venue_id,
                                                   "kind": "office"})
            assert answer.status_code == 201, answer.text
            keys[venue_id] = answer.json()["api_key"]
    return keys


def uploads_by_venue(messages: list[list[Scan]]) -> dict[str, list[list[Scan]]]:
    by_venue: dict[str, list[list[Scan]]] = {}
    for message in messages:
        by_venue.setdefault(message[0].venue_id, []).append(message)
    return by_venue


def test_a_broker_restart_loses_no_acknowledged_scan_and_answers_503_meanwhile(
    faults_stack: Settings, tmp_path: Path, record_property: Any
) -> None:
    settings = isolated_settings(faults_stack, tmp_path)
    admin = grant(settings, Role.ADMIN)
    url = f"http://{settings.ingest_host}:{settings.ingest_port}"
    day = messy_day(9, venues=VENUE_IDS, people=250, start=recent_start(48), hours=24)
    messages = [m for wave in day.waves for m in wave]
    log = GateLog()
    with running_http_service("services.ingest", settings, url, tmp_path / "ingest.log") as ingest:
        tracer = ServiceProcess("services.tracer", settings, tmp_path / "tracer.log")
        try:
            keys = register(url, admin)
            by_venue = uploads_by_venue(messages)
            # Each gate's first upload before the others: the tracer is consuming by the time
            # the broker goes away (a worker that cannot reach Kafka while starting exits).
            warm_up = [Gate(url, keys[venue], uploads[:1], log) for venue, uploads in
                       by_venue.items()]
            for gate in warm_up:
                gate.run()
            first = {s.event_id for uploads in by_venue.values() for s in uploads[0]}
            wait_while_running(lambda: stored_event_ids(settings) == first, 90,
                               "the tracer consuming", [tracer])
            gates = [Gate(url, keys[venue], uploads[1:], log, every_s=0.4)
                     for venue, uploads in by_venue.items()]
            for gate in gates:
                gate.start()
            wait_for(lambda: log.count(202) >= len(messages) // 4, 60, "a quarter of the uploads")
            kafka.stop(faults_stack)  # a controlled shutdown, as in a rolling restart
            outage_began = time.monotonic()
            accepted_before_outage = log.count(202)
            wait_for(lambda: log.count(503) >= 2, 60, "ingest to answer 503 while Kafka is down")
            kafka.start(faults_stack)
            outage_s = time.monotonic() - outage_began
            for gate in gates:
                gate.join(timeout=150)
                assert not gate.is_alive(), (
                    f"gates still retrying {outage_s:.0f} s after the broker came back: "
                    f"{dict(log.statuses)}\n--- ingest ---\n{ingest.log_tail()}")
                assert gate.error is None, gate.error

            record_property("statuses", dict(log.statuses))
            record_property("outage_s", round(outage_s, 1))
            assert log.unexpected == [], "answers other than 202/503"
            assert log.unavailable_without_retry_after == 0
            assert log.gave_up == []
            assert set(log.statuses) == {202, 503}
            assert 0 < accepted_before_outage < len(messages)
            everything = {s.event_id for s in day.scans}
            assert log.accepted_event_ids == everything

            wait_for_the_reference_stores(settings, day.scans, tracer, ingest,
                                          f"a {outage_s:.0f} s broker outage")
        finally:
            tracer.stop()
