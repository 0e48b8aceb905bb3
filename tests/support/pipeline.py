"""Shared pieces of the pipeline tests: venues, cases, and reading alerts back."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from kafka import KafkaProducer

from schemas.alerts import Alert as AlertMessage
from schemas.cases import CaseReported, CaseWithdrawn
from schemas.common import Op, utc_now
from schemas.registry import VenueRecord
from schemas.venues import VenueKind, VenuePublic
from services.alerts.domain.model import Case
from services.core.clickhouse import clickhouse_client, utc
from services.core.config import Settings
from services.core.kafka_connection import kafka_options
from services.core.registry_log import publish_records_blocking
from services.tracer.domain.model import Contact, VenueRules
from tests.reference.exposure import ReferenceCase, ReferenceEdge, reference_alerts
from tests.support.kafka_read import Record, read_topic
from tests.support.stack import isolated_settings

AlertKey = tuple[str, int, int, str | None]  # person, degree, exposed_at, via

# Dwell and overlap rules that differ from venue to venue, for the integration tests' days.
_MIXED_VENUES = {
    "office-1": VenueRules(3600, 43200, 900),
    "market-1": VenueRules(1800, 14400, 600),
    "clinic-1": VenueRules(2700, 43200, 900),
    "school-1": VenueRules(3600, 43200, 1200),
    "cafe-1": VenueRules(3600, 43200, 900),
    "factory-1": VenueRules(3600, 43200, 900),
}


def mixed_venues(count: int = len(_MIXED_VENUES)) -> dict[str, VenueRules]:
    """The first ``count`` (of six) venues with their rules, always the same ones."""
    return dict(list(_MIXED_VENUES.items())[:count])


def settings_with_venues(
    stack: Settings, state_dir: Path, venues: dict[str, VenueRules]
) -> Settings:
    """Isolated settings on the test stack (``isolated_settings``) with ``venues`` registered."""
    settings = isolated_settings(stack, state_dir)
    register_venues(settings, venues)
    return settings


def register_venues(settings: Settings, venues: dict[str, VenueRules]) -> None:
    publish_records_blocking(
        settings,
        [
            VenueRecord(
                venue=VenuePublic(
                    venue_id=vid,
                    name=vid,
                    kind=VenueKind.OTHER,
                    default_dwell_s=r.default_dwell,
                    max_dwell_s=r.max_dwell,
                    min_overlap_s=r.min_overlap,
                    created_at=utc_now(),
                ),
                key_sha256="0" * 64,
            )
            for vid, r in venues.items()
        ],
    )


def expected_alerts(case: Case, contacts: Iterable[Contact], max_degree: int = 2) -> set[AlertKey]:
    """The reference's alerts of the case given these fields (it derives the window itself)."""
    edges = [ReferenceEdge.of(c) for c in contacts]
    found = reference_alerts(ReferenceCase.of(case), edges, max_degree)
    return {(person, a.degree, a.exposed_at, a.via) for person, a in found.items()}


def report_case(settings: Settings, case: Case) -> None:
    message = CaseReported(
        case_id=case.case_id,
        person_id=case.person,
        onset_at=utc(case.onset_at) if case.onset_at is not None else None,
        sampled_at=utc(case.sampled_at) if case.sampled_at is not None else None,
        reported_at=utc(case.reported_at),
        isolated_at=utc(case.isolated_at) if case.isolated_at is not None else None,
    )
    _send(settings, "cases", case.case_id.encode(), message.model_dump_json().encode())


def withdraw_case(settings: Settings, case_id: str) -> None:
    message = CaseWithdrawn(case_id=case_id, withdrawn_at=utc_now())
    _send(settings, "cases", case_id.encode(), message.model_dump_json().encode())


def _send(settings: Settings, topic: str, key: bytes, value: bytes) -> None:
    producer = KafkaProducer(**kafka_options(settings), acks="all")
    try:
        producer.send(settings.topic(topic), key=key, value=value).get(timeout=30)
    finally:
        producer.close()


def stored_alerts(settings: Settings, case_id: str) -> set[AlertKey]:
    rows = clickhouse_client(settings).execute(
        "SELECT person_id, degree, toUInt32(exposed_at), via_person_id FROM"
        " (SELECT person_id, degree, exposed_at, via_person_id, deleted FROM alerts FINAL"
        "  WHERE case_id = %(case)s) WHERE deleted = 0",
        {"case": case_id},
    )
    return {(p, int(d), int(t), v or None) for p, d, t, v in rows}


def stored_alert_row_counts(settings: Settings) -> list[tuple[str, int]]:
    """(alert_id, live rows) for alert ids with more than one live row after FINAL."""
    rows = clickhouse_client(settings).execute(
        "SELECT alert_id, count() FROM (SELECT alert_id, deleted FROM alerts FINAL)"
        " WHERE deleted = 0 GROUP BY alert_id HAVING count() > 1"
    )
    return [(a, int(n)) for a, n in rows]


def alerts_from_topic(settings: Settings) -> dict[str, set[AlertKey]]:
    """Fold the alerts topic in order: upserts replace, retractions remove; by case."""
    records = read_topic(settings, settings.topic("alerts"))
    return fold_alerts(sorted(records, key=lambda r: (r[2], r[3])))


def fold_alerts(records: Iterable[Record]) -> dict[str, set[AlertKey]]:
    """Alerts ``records`` folded in the order given (upserts replace, retractions remove), by
    case: what a consumer of the ``alerts`` topic holds at the end."""
    current: dict[str, AlertMessage] = {}
    for _, value, _, _ in records:
        assert value is not None
        alert = AlertMessage.model_validate_json(value)
        if alert.op == Op.RETRACT:
            current.pop(alert.alert_id, None)
        else:
            current[alert.alert_id] = alert
    by_case: dict[str, set[AlertKey]] = {}
    for a in current.values():
        by_case.setdefault(a.case_id, set()).add(
            (a.person_id, a.degree, int(a.exposed_at.timestamp()), a.via_person_id)
        )
    return by_case
