"""Garbage, wrong-schema JSON and oversized messages written straight into ``scans`` and
``cases`` by a Kafka client that is not ours, between valid ones.

Every bad message must end in ``dead-letter`` (naming its topic, partition and offset, with the
payload's first MiB) and the valid ones must flow around it: visits, contacts and alerts equal
the reference computed on the valid messages alone.
"""

from __future__ import annotations

import base64
from collections import Counter
from pathlib import Path

import orjson
import pytest

from schemas.cases import CaseReported
from schemas.errors import DeadLetter
from services.core.clickhouse import utc
from services.core.config import Settings
from services.core.deadletter import MAX_PARKED_PAYLOAD
from tests.reference.tracing import reference_contacts, reference_visits
from tests.reliability.city import cases_of, most_connected, recent_start, venues
from tests.reliability.console_producer import console_produce
from tests.reliability.stores import read_records
from tests.reliability.waits import wait_while_running
from tests.support.citygen import messy_day
from tests.support.pipeline import expected_alerts, register_venues, stored_alerts
from tests.support.processes import ServiceProcess
from tests.support.scan_topic import batch_of, stored_contacts, stored_visits
from tests.support.stack import isolated_settings

pytestmark = pytest.mark.integration

VENUES = venues(3, prefix="poison")
HOUR = 3600
PSEUDONYM = "ab" * 32


def scan_json(event_id: str, scanned_at: str, person: str = PSEUDONYM) -> dict[str, str]:
    return {"event_id": event_id, "person_id": person, "direction": "in", "scanned_at": scanned_at}


def bad_scans(venue: str, at: str) -> list[tuple[bytes, bytes]]:
    huge = {"venue_id": venue, "scans": [scan_json(f"big-{i}", at) for i in range(12_000)]}
    values = [
        b"\x00\x01garbage \xff\xfe not json {{{",
        b'{"venue_id": "' + venue.encode() + b'", "scans": "not a list"}',
        b"[1, 2, 3]",
        b'{"hello": "world"}',
        orjson.dumps({"venue_id": venue, "scans": []}),
        orjson.dumps({"venue_id": venue, "scans": [scan_json("naive", "2026-11-20T08:00:00")]}),
        orjson.dumps({"venue_id": venue, "scans": [scan_json("bad-dir", at) | {"direction": "x"}]}),
        orjson.dumps({"venue_id": "no spaces allowed", "scans": [scan_json("bad-venue", at)]}),
        orjson.dumps(huge),  # ~2 MB: more scans than one message may carry (10,000)
    ]
    assert 2**20 < len(values[-1]) < 8 * 2**20
    return [(venue.encode(), value) for value in values]


def bad_cases(at: str) -> list[tuple[bytes, bytes]]:
    padding = "x" * (3 * 2**19)
    values = [
        b"\xff\xfe\x00 garbage",
        b'{"kind": "reported"}',
        b'{"kind": "teleported", "case_id": "c-1"}',
        orjson.dumps({"kind": "reported", "case_id": "c-2", "person_id": PSEUDONYM,
                      "reported_at": at}),  # neither onset_at nor sampled_at (rule 5)
        orjson.dumps({"kind": "withdrawn", "case_id": "c-3", "withdrawn_at": "yesterday"}),
        orjson.dumps({"kind": "reported", "case_id": "c-4", "person_id": PSEUDONYM,
                      "onset_at": at, "reported_at": at, "note": padding}),  # ~1.5 MB
    ]
    return [(f"bad-{i}".encode(), value) for i, value in enumerate(values)]


def test_bad_messages_from_a_foreign_producer_go_to_dead_letter_and_the_rest_flows(
    stack: Settings, tmp_path: Path
) -> None:
    settings = isolated_settings(stack, tmp_path)
    register_venues(settings, VENUES)
    start = recent_start(40)
    day = messy_day(17, venues=list(VENUES), people=80, start=start, hours=24)
    messages = [m for wave in day.waves for m in wave]
    contacts = reference_contacts(day.scans, VENUES)
    (case,) = cases_of(most_connected(contacts, 1), prefix="poison", onset_at=start + 6 * HOUR)
    at = utc(start + HOUR).isoformat()
    valid_scans = [(m[0].venue_id.encode(), batch_of(m).model_dump_json().encode())
                   for m in messages]
    valid_case = CaseReported(case_id=case.case_id, person_id=case.person,
                              onset_at=utc(start + 6 * HOUR), reported_at=utc(case.reported_at))
    half = len(valid_scans) // 2
    poison_scans, poison_cases = bad_scans(next(iter(VENUES)), at), bad_cases(at)

    workers = [ServiceProcess("services.tracer", settings, tmp_path / "tracer.log"),
               ServiceProcess("services.alerts.worker", settings, tmp_path / "alerts.log")]
    try:
        console_produce(settings, settings.topic("scans"),
                        valid_scans[:half] + poison_scans + valid_scans[half:])
        console_produce(settings, settings.topic("cases"), [
            *poison_cases[:3],
            (case.case_id.encode(), valid_case.model_dump_json().encode()),
            *poison_cases[3:],
        ])
        visits = reference_visits(day.scans, VENUES)
        alerts = expected_alerts(case, contacts)
        assert alerts, "the valid case should alert someone"
        wait_while_running(
            lambda: stored_visits(settings) == visits and stored_contacts(settings) == contacts
            and stored_alerts(settings, case.case_id) == alerts,
            180, "the valid scans and case to flow around the bad ones", workers, every_s=1.0)
        wanted = len(poison_scans) + len(poison_cases)

        def all_parked() -> list[DeadLetter]:
            records = read_records(settings, settings.topic("dead-letter"))
            letters = [DeadLetter.model_validate_json(v or b"") for _, v, _, _ in records]
            return letters if len(letters) >= wanted else []

        letters = wait_while_running(all_parked, 90, "every bad message dead-lettered", workers)
    finally:
        for worker in workers:
            worker.stop()

    sources = {
        (topic, partition, offset): value or b""
        for topic in (settings.topic("scans"), settings.topic("cases"))
        for _, value, partition, offset in read_records(settings, topic)
    }
    assert Counter(d.source_topic for d in letters) == {
        settings.topic("scans"): len(poison_scans), settings.topic("cases"): len(poison_cases)}
    for letter in letters:
        source = sources[(letter.source_topic, letter.partition, letter.offset)]
        assert base64.b64decode(letter.payload_base64) == source[:MAX_PARKED_PAYLOAD]
        assert letter.reason and letter.service in {"tracer", "alerts"}
    parked = {sources[(d.source_topic, d.partition, d.offset)] for d in letters}
    assert all(value not in parked for _, value in valid_scans)
