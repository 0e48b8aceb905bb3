"""Between the wire models of ``cases``/``alerts`` and the alerts domain."""

from __future__ import annotations

from datetime import datetime

from schemas.alerts import Alert as AlertMessage
from schemas.alerts import Exposure as ExposureMessage
from schemas.cases import CaseReported
from schemas.common import Op
from services.alerts.domain import Alert, Case
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


def alert_message(alert: Alert, created_at: int, op: Op) -> bytes:
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
                for e in alert.exposures
            ],
            created_at=utc(created_at),
            risk_score=alert.risk_score,
            risk_level=alert.risk_level,
        )
        .model_dump_json()
        .encode()
    )
