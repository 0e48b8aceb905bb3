"""Venue exposure events through the real Kafka and ClickHouse equal the brute-force rule 11:
late visits after the declaration, a correction, a withdrawal, and the kill switch; clusters
(rule 12) found, grown, dissolved by withdrawn cases and confirmed into an exposure event."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from schemas.clusters import ClusterMessage
from schemas.common import utc_now
from schemas.exposure_events import ExposureDeclared
from schemas.registry import VenueRecord
from schemas.venues import ClusterRuleIn, VenueKind, VenuePublic
from services.alerts.domain.model import Case
from services.core.clickhouse import clickhouse_client, utc
from services.core.config import Settings
from services.core.registry_log import publish_records_blocking
from tests.reference.exposure import ReferenceEdge
from tests.reference.tracing import reference_contacts, reference_visits
from tests.reference.venue_events import ReferenceEvent, ReferenceVisit, reference_venue_alerts
from tests.support.citygen import messy_day
from tests.support.kafka_read import read_topic
from tests.support.pipeline import (
    alerts_from_topic,
    mixed_venues,
    report_case,
    settings_with_venues,
    stored_alert_row_counts,
    stored_alerts,
    withdraw_case,
)
from tests.support.processes import ServiceProcess, wait_for
from tests.support.scan_topic import produce_messages
from truyvet.exposure_command import (
    confirm_cluster,
    declare_event,
    set_venue_alerts_paused,
    withdraw_event,
)

pytestmark = pytest.mark.integration

VENUES = mixed_venues(4)
BUSY = next(iter(VENUES))  # messy_day makes the first venue the busiest
HOUR = 3600


@pytest.fixture
def pipeline(stack: Settings,
             tmp_path: Path) -> Iterator[tuple[Settings, dict[str, ServiceProcess]]]:
    settings = settings_with_venues(stack, tmp_path, VENUES).model_copy(
        update={"exposure_recheck_s": 0.5, "cluster_check_s": 0.5})
    workers = {
        "tracer": ServiceProcess("services.tracer", settings, tmp_path / "tracer.log"),
        "alerts": ServiceProcess("services.alerts.worker", settings, tmp_path / "alerts.log"),
    }
    yield settings, workers
    set_venue_alerts_paused(settings, False)
    for worker in workers.values():
        worker.stop()


def expected(declared: ExposureDeclared, visits: set, contacts: set) -> set:
    event = ReferenceEvent(declared.event_id, declared.venue_id, int(declared.start.timestamp()),
                           int(declared.end.timestamp()), int(declared.declared_at.timestamp()),
                           declared.min_presence_s, declared.with_contacts)
    found = reference_venue_alerts(
        event, [ReferenceVisit(v.visit_id, v.venue_id, v.person, v.start, v.end) for v in visits],
        [ReferenceEdge.of(c) for c in contacts])
    return {(person, a.degree, a.exposed_at, a.via) for person, a in found.items()}


def stored_event_status(settings: Settings, event_id: str) -> str | None:
    rows = clickhouse_client(settings).execute(
        "SELECT status FROM exposure_events FINAL WHERE event_id = %(e)s", {"e": event_id})
    return rows[0][0] if rows else None


def wait_for_alerts(settings: Settings, want: dict[str, set],
                    workers: dict[str, ServiceProcess], timeout_s: float = 120) -> None:
    def settled() -> bool:
        for worker in workers.values():
            assert worker.alive(), worker.log_tail()
        return all(stored_alerts(settings, eid) == w for eid, w in want.items())

    try:
        wait_for(settled, timeout_s, "the venue alerts to equal the reference", 0.5)
    except AssertionError:
        report = {eid: (len(stored_alerts(settings, eid)), len(w)) for eid, w in want.items()}
        raise AssertionError(f"(stored, expected): {report}\n"
                             + workers["alerts"].log_tail()) from None


def test_exposure_events_equal_the_reference_in_any_order(pipeline) -> None:
    settings, workers = pipeline
    now = int(time.time())
    start = now - 40 * HOUR
    day = messy_day(41, venues=list(VENUES), people=150, start=start, hours=30)
    visits = reference_visits(day.scans, VENUES)
    contacts = reference_contacts(day.scans, VENUES)

    def declare(event_id: str, begin_h: int, end_h: int, **fields: object) -> ExposureDeclared:
        return declare_event(settings, event_id=event_id, venue_id=BUSY,
                             start=utc(start + begin_h * HOUR), end=utc(start + end_h * HOUR),
                             message="Quán đông khách", **fields)  # type: ignore[arg-type]

    late = declare("ev-late", 4, 14)  # before any scan: every alert comes from late visits
    on_time, late_wave = day.waves
    produce_messages(settings, on_time)
    fixed = declare("ev-fix", 6, 9, min_presence_s=900, with_contacts=True, action="test")
    gone = declare("ev-gone", 0, 30)
    produce_messages(settings, late_wave)
    fixed = declare("ev-fix", 12, 20, with_contacts=True, action="isolate")  # a correction
    withdraw_event(settings, "ev-gone")
    want = {"ev-late": expected(late, visits, contacts),
            "ev-fix": expected(fixed, visits, contacts), "ev-gone": set()}
    assert want["ev-late"] and {d for _, d, _, _ in want["ev-fix"]} == {1, 2}
    assert expected(gone, visits, contacts), "the withdrawn event alerted people before"
    wait_for_alerts(settings, want, workers)
    assert stored_event_status(settings, "ev-gone") == "withdrawn"

    # The kill switch: an event declared while paused is held, then sent in full on resume.
    set_venue_alerts_paused(settings, True)
    log = workers["alerts"].log_path
    wait_for(lambda: "venue alerts paused" in log.read_text(errors="replace"), 30,
             "the worker to pause", 0.2)
    held = declare("ev-held", 2, 28, min_presence_s=1800)
    wait_for(lambda: stored_event_status(settings, "ev-held") == "declared", 60,
             "the held event to be taken", 0.2)
    assert stored_alerts(settings, "ev-held") == set()
    set_venue_alerts_paused(settings, False)
    want["ev-held"] = expected(held, visits, contacts)
    assert want["ev-held"]
    wait_for_alerts(settings, want, workers)

    folded = alerts_from_topic(settings)
    for event_id, w in want.items():
        assert folded.get(event_id, set()) == w
    assert stored_alert_row_counts(settings) == []


def stored_clusters(settings: Settings) -> list[tuple[str, str, tuple[str, ...]]]:
    rows = clickhouse_client(settings).execute(
        "SELECT cluster_id, venue_id, case_ids FROM (SELECT cluster_id, venue_id, case_ids,"
        " deleted FROM clusters FINAL) WHERE deleted = 0")
    return sorted((cid, venue, tuple(cases)) for cid, venue, cases in rows)


def test_a_cluster_is_found_grows_dissolves_and_confirms_into_an_exposure_event(
        pipeline) -> None:
    settings, workers = pipeline
    now = int(time.time())
    start = now - 40 * HOUR
    day = messy_day(43, venues=list(VENUES), people=120, start=start, hours=30)
    visits = reference_visits(day.scans, VENUES)
    contacts = reference_contacts(day.scans, VENUES)
    for wave in day.waves:
        produce_messages(settings, wave)
    # F0s who visited the busy venue only (so no other venue is a cluster): their whole stay
    # is in their infectious window (onset before the day began).
    at_busy = sorted({v.person for v in visits if v.venue_id == BUSY}
                     - {v.person for v in visits if v.venue_id != BUSY})
    assert len(at_busy) >= 4
    cases = [Case(case_id=f"cl-{i}", person=p, onset_at=start, reported_at=now - 60)
             for i, p in enumerate(at_busy[:4])]
    for case in cases[:3]:  # an "other" venue's rule: 3 cases within 7 days
        report_case(settings, case)
    wait_for(lambda: [c for _, _, c in stored_clusters(settings)] == [("cl-0", "cl-1", "cl-2")],
             90, "the cluster of three cases", 0.5)
    ((cluster_id, venue, _),) = stored_clusters(settings)
    assert venue == BUSY
    report_case(settings, cases[3])  # it grows, under the same id
    wait_for(lambda: stored_clusters(settings) == [
        (cluster_id, BUSY, ("cl-0", "cl-1", "cl-2", "cl-3"))], 60, "the cluster to grow", 0.5)

    declared = confirm_cluster(settings, cluster_id, message="Ổ dịch", action="test")
    want = {declared.event_id: expected(declared, visits, contacts)}
    assert want[declared.event_id]
    wait_for_alerts(settings, want, workers)

    withdraw_case(settings, "cl-3")  # it shrinks
    wait_for(lambda: stored_clusters(settings) == [(cluster_id, BUSY, ("cl-0", "cl-1", "cl-2"))],
             60, "the cluster to shrink", 0.5)
    withdraw_case(settings, "cl-2")  # two cases left: no cluster
    wait_for(lambda: stored_clusters(settings) == [], 60, "the cluster to dissolve", 0.5)
    messages = [ClusterMessage.model_validate_json(v)
                for _, v, _, _ in read_topic(settings, settings.topic("clusters"))]
    assert [(m.op.value, len(m.case_ids)) for m in messages] == [
        ("upsert", 3), ("upsert", 4), ("upsert", 3), ("retract", 3)]
    assert {m.cluster_id for m in messages} == {cluster_id}
    assert messages[0].visitors >= 3

    # The venue's own rule (its registry record, copied to ClickHouse) overrides its kind's:
    # with 2 cases enough there, the two cases left are a cluster again.
    rules = VENUES[BUSY]
    publish_records_blocking(settings, [VenueRecord(venue=VenuePublic(
        venue_id=BUSY, name=BUSY, kind=VenueKind.OTHER, default_dwell_s=rules.default_dwell,
        max_dwell_s=rules.max_dwell, min_overlap_s=rules.min_overlap,
        cluster_rule=ClusterRuleIn(min_cases=2, window_days=7), created_at=utc_now()),
        key_sha256="0" * 64)])
    wait_for(lambda: [c for _, _, c in stored_clusters(settings)] == [("cl-0", "cl-1")], 60,
             "the venue's own rule to make a cluster of two cases", 0.5)
    last = ClusterMessage.model_validate_json(
        read_topic(settings, settings.topic("clusters"))[-1][1])
    assert (last.op.value, last.case_ids, last.min_cases) == ("upsert", ["cl-0", "cl-1"], 2)
