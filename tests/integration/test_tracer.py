"""The tracer through the real Kafka and ClickHouse equals the brute-force rules 1–3."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.errors import DeadLetter
from services.alerts.worker.store import AlertStore
from services.core.config import Settings
from services.tracer.domain.model import Contact
from tests.reference.tracing import reference_contacts, reference_visits
from tests.support.citygen import messy_day
from tests.support.kafka_read import read_topic
from tests.support.pipeline import mixed_venues, settings_with_venues
from tests.support.processes import ServiceProcess, wait_for
from tests.support.scan_topic import (
    contacts_from_topic,
    produce_messages,
    produce_raw,
    stored_contacts,
    stored_visits,
)

pytestmark = pytest.mark.integration

VENUES = mixed_venues()


@pytest.fixture
def tracer_settings(stack: Settings, tmp_path: Path) -> Settings:
    return settings_with_venues(stack, tmp_path, VENUES)


@pytest.fixture
def tracer(tracer_settings: Settings, tmp_path: Path) -> Iterator[ServiceProcess]:
    worker = ServiceProcess("services.tracer", tracer_settings, tmp_path / "tracer.log")
    yield worker
    worker.stop()


def wait_until_equal(
    settings: Settings,
    expected_visits: set,
    expected_contacts: set,
    worker: ServiceProcess,
    timeout_s: float = 120,
) -> None:
    def settled() -> bool:
        assert worker.alive(), worker.log_tail()
        return (
            stored_visits(settings) == expected_visits
            and stored_contacts(settings) == expected_contacts
        )

    try:
        wait_for(settled, timeout_s, "ClickHouse to hold exactly the reference answer", 0.5)
    except AssertionError:
        visits, contacts = stored_visits(settings), stored_contacts(settings)
        raise AssertionError(
            f"visits: {len(visits)} stored vs {len(expected_visits)} expected, "
            f"missing {len(expected_visits - visits)}, extra {len(visits - expected_visits)}; "
            f"contacts: {len(contacts)} vs {len(expected_contacts)}, missing "
            f"{len(expected_contacts - contacts)}, extra {len(contacts - expected_contacts)}\n"
            + worker.log_tail()
        ) from None


def test_a_messy_multi_venue_day_gives_exactly_the_reference(
    tracer_settings: Settings, tracer: ServiceProcess
) -> None:
    start = int(time.time()) // 86400 * 86400 - 2 * 86400 + 6 * 3600  # spans two midnights
    day = messy_day(7, venues=list(VENUES), people=120, start=start)
    visits = reference_visits(day.scans, VENUES)
    contacts = reference_contacts(day.scans, VENUES)
    assert len(contacts) > 50, "the generated day should make plenty of contacts"

    on_time, late = day.waves
    produce_messages(tracer_settings, on_time)
    first_wave = {s for m in on_time for s in m}
    wait_until_equal(
        tracer_settings,
        reference_visits(first_wave, VENUES),
        reference_contacts(first_wave, VENUES),
        tracer,
    )

    # Offline gates upload hours late, check-outs trickle in: earlier answers must be corrected.
    produce_messages(tracer_settings, late)
    wait_until_equal(tracer_settings, visits, contacts, tracer)
    assert stored_visits(tracer_settings, "visits_by_person") == visits
    assert contacts_from_topic(tracer_settings) == contacts
    assert_person_reads_give_their_contacts(tracer_settings, contacts)


def assert_person_reads_give_their_contacts(settings: Settings, contacts: set[Contact]) -> None:
    """The alerts worker's read of a person's contacts (through their visits) over the day,
    and over a window that cuts some contacts out, equals the reference's contacts of them."""
    everyone = sorted({p for c in contacts for p in (c.person_a, c.person_b)})
    first = min(c.start for c in contacts)
    last = max(c.end for c in contacts)
    middle = (first + last) // 2
    store = AlertStore(settings)
    try:
        for since, until in ((first, last), (middle, middle + 3600)):
            for group in (everyone[:1], everyone[1:4], everyone[4:]):
                persons = set(group)
                found = {Contact(e.venue_id, e.person_a, e.person_b, e.start, e.end)
                         for e in store.edges_of(persons, since, until)}
                assert found == {c for c in contacts if {c.person_a, c.person_b} & persons
                                 and c.start <= until and c.end >= since}, (persons, since,
                                                                           until)
    finally:
        store.close()


def test_poison_messages_go_to_dead_letter_and_the_rest_flows(
    tracer_settings: Settings, tracer: ServiceProcess
) -> None:
    start = int(time.time()) - 86400
    day = messy_day(11, venues=["cafe-1", "market-1"], people=30, start=start, hours=6)
    messages = [m for wave in day.waves for m in wave]
    half = len(messages) // 2
    produce_messages(tracer_settings, messages[:half])
    poison = [
        (b"cafe-1", b"\x00\xffnot json at all"),
        (b"cafe-1", b'{"venue_id": "cafe-1", "scans": []}'),
        (
            b"cafe-1",
            b'{"venue_id": "cafe-1", "scans": [{"event_id": "x", "person_id": '
            b'"0912345678", "direction": "in", "scanned_at": "2026-11-20T01:00:00Z"}]}',
        ),
    ]
    for key, value in poison:
        produce_raw(tracer_settings, "scans", key, value)
    produce_messages(tracer_settings, messages[half:])

    wait_until_equal(
        tracer_settings,
        reference_visits(day.scans, VENUES),
        reference_contacts(day.scans, VENUES),
        tracer,
    )
    letters = [
        DeadLetter.model_validate_json(v)
        for _, v, _, _ in read_topic(
            tracer_settings, tracer_settings.topic("dead-letter"), len(poison)
        )
    ]
    assert sorted(base64.b64decode(d.payload_base64) for d in letters) == sorted(
        v for _, v in poison
    )
    scans_topic = tracer_settings.topic("scans")
    source = {(p, o): v for _, v, p, o in read_topic(tracer_settings, scans_topic)}
    for letter in letters:
        assert letter.source_topic == scans_topic and letter.service == "tracer"
        assert source[(letter.partition, letter.offset)] == base64.b64decode(letter.payload_base64)
        assert letter.reason
