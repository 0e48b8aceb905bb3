"""Between the wire models of ``cases``/``alerts`` and the alerts domain."""

from __future__ import annotations

from datetime import datetime

from schemas.alerts import Alert as AlertMessage
from schemas.alerts import Exposure as ExposureMessage
from schemas.alerts import Presence, VenueExposure
from schemas.cases import CaseReported
from schemas.common import Op
from schemas.exposure_events import ExposureDeclared
from services.alerts.domain import Alert, Case
from services.alerts.domain.venue_events import VenueEvent
from services.core.clickhouse import utc


def _seconds(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp())


def case_of(message: CaseReported) -> Case:
    """The domain case; raises the domain's error for an empty infectious window."""
    return Case(
        case_id=message.case_id,
        person=message.person_id,
        onset_at=_seconds(message.onset_at),
        sampled_at=_seconds(message.sampled_at),
        reported_at=int(message.reported_at.timestamp()),
        isolated_at=_seconds(message.isolated_at),
    )


def event_of(message: ExposureDeclared) -> VenueEvent:
    """The domain event; raises the domain's error for an event that cannot alert anyone."""
    return VenueEvent(
        event_id=message.event_id,
        venue_id=message.venue_id,
        start=int(message.start.timestamp()),
        end=int(message.end.timestamp()),
        declared_at=int(message.declared_at.timestamp()),
        message=message.message,
        action=message.action.value,
        min_presence_s=message.min_presence_s,
        with_contacts=message.with_contacts,
    )


def alert_message(alert: Alert, created_at: int, op: Op,
                  event: VenueEvent | None = None) -> bytes:
    """The ``alerts`` message of a case's alert, or of an exposure event's with ``event``
    (whose presence, the exposures with nobody on the other side, goes to ``presence``)."""
    exposures = [e for e in alert.exposures if e.other_person]
    presence = [] if event is None else [
        Presence(visit_id=e.contact_id, venue_id=e.venue_id, start=utc(e.start), end=utc(e.end))
        for e in alert.exposures if not e.other_person]
    venue = None if event is None else VenueExposure(
        event_id=event.event_id, venue_id=event.venue_id, start=utc(event.start),
        end=utc(event.end), message=event.message, action=event.action)
    return (
        AlertMessage(
            op=op,
            alert_id=alert.alert_id,
            case_id=alert.case_id,
            person_id=alert.person,
            degree=alert.degree,
            exposed_at=utc(alert.exposed_at),
            via_person_id=alert.via_person,
            venue_ids=list(alert.venue_ids),
            exposures=[
                ExposureMessage(
                    contact_id=e.contact_id,
                    venue_id=e.venue_id,
                    other_person_id=e.other_person,
                    start=utc(e.start),
                    end=utc(e.end),
                )
                for e in exposures
            ],
            created_at=utc(created_at),
            risk_score=alert.risk_score,
            risk_level=alert.risk_level,
            kind="case" if event is None else "venue",
            event=venue,
            presence=presence,
        )
        .model_dump_json()
        .encode()
    )
