"""Pure functions of the reads: stored rows to records, records to the domain, the figures'
hours. No I/O; the doctests run in ``tests/unit``.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError

from schemas.alerts import Exposure
from services.alerts.domain import Alert, ChainNode, transmission_chain
from services.alerts.domain import Exposure as DomainExposure
from services.alerts.queries.records import AlertRecord, CaseRecord, HourScans, PageKey
from services.alerts.queries.sql import FIGURES_HOURS

_EXPOSURES = TypeAdapter(list[Exposure])


class CorruptRowError(RuntimeError):
    """A stored row this code cannot read back — a writer bug, never the caller's fault."""


def figures_window(now: datetime, hours: int = FIGURES_HOURS) -> tuple[datetime, datetime]:
    """The whole UTC hours that make the figures' window: ``hours`` of them, ending with the
    hour ``now`` is in.

    Example:
        >>> since, until = figures_window(datetime(2026, 11, 20, 8, 25, tzinfo=UTC), hours=3)
        >>> since.isoformat(), until.isoformat()
        ('2026-11-20T06:00:00+00:00', '2026-11-20T09:00:00+00:00')
    """
    end = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return end - timedelta(hours=hours), end


def every_hour(since: datetime, until: datetime, counted: list[HourScans]) -> list[HourScans]:
    """``counted`` with the hours it lacks (no scans) filled in as zeros, oldest first.

    Example:
        >>> t = datetime(2026, 11, 20, 6, tzinfo=UTC)
        >>> [h.scans for h in every_hour(t, t + timedelta(hours=3),
        ...                              [HourScans(t + timedelta(hours=1), 5, 2)])]
        [0, 5, 0]
    """
    by_hour = {h.hour: h for h in counted}
    hours = int((until - since) / timedelta(hours=1))
    return [
        by_hour.get(hour, HourScans(hour, 0, 0))
        for hour in (since + timedelta(hours=k) for k in range(hours))
    ]


def chain_of(case: CaseRecord, alerts: list[AlertRecord]) -> ChainNode:
    """The transmission tree of ``case`` from its current alerts.

    Raises the domain's ``InconsistentAlertsError`` if the alerts cannot form one tree — which a
    reader can see for a moment while the worker is still writing a recomputed set.
    """
    return transmission_chain(case.case_id, case.person_id, [to_domain(a) for a in alerts])


def to_domain(alert: AlertRecord) -> Alert:
    """The alerts domain's value of a stored alert (epoch seconds), e.g. to build a chain."""
    return Alert(
        alert_id=alert.alert_id,
        case_id=alert.case_id,
        person=alert.person_id,
        degree=alert.degree,
        exposed_at=epoch(alert.exposed_at),
        via_person=alert.via_person_id,
        venue_ids=alert.venue_ids,
        exposures=tuple(
            DomainExposure(
                contact_id=e.contact_id,
                venue_id=e.venue_id,
                other_person=e.other_person_id,
                start=epoch(e.start),
                end=epoch(e.end),
            )
            for e in alert.exposures
        ),
    )


def light_alert_of_row(row: tuple[Any, ...]) -> Alert:
    """The domain value of a ``CHAIN_ALERTS`` row (no exposures): enough for a chain."""
    (alert_id, case_id, person_id, degree, exposed_at, via, venue_ids) = row
    return Alert(alert_id=alert_id, case_id=case_id, person=person_id, degree=int(degree),
                 exposed_at=epoch(utc(exposed_at)), via_person=via or None,
                 venue_ids=tuple(venue_ids), exposures=())


class BadCursorError(ValueError):
    """A page cursor this service did not write."""


def encode_cursor(key: PageKey) -> str:
    """An opaque cursor for the page after ``key``.

    Example:
        >>> cursor = encode_cursor(PageKey(2, 1763625600, "5f0c"))
        >>> decode_cursor(cursor)
        PageKey(degree=2, exposed_at=1763625600, alert_id='5f0c', risk=None)
        >>> decode_cursor(encode_cursor(PageKey(1, 1763625600, "5f0c", risk=2150))).risk
        2150
    """
    text = f"{key.degree}:{key.exposed_at}:{key.alert_id}"
    if key.risk is not None:
        text = f"r{key.risk}:{text}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> PageKey:
    """The key a cursor of :func:`encode_cursor` holds; :class:`BadCursorError` otherwise.

    Example:
        >>> decode_cursor("bm9wZQ")
        Traceback (most recent call last):
        ...
        services.alerts.queries.helpers.BadCursorError: not a cursor of this service: 'bm9wZQ'
    """
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        found = _CURSOR.fullmatch(text)
    except (ValueError, UnicodeDecodeError):
        found = None
    if found is None or len(cursor) > _MAX_CURSOR:
        raise BadCursorError(f"not a cursor of this service: {cursor[:80]!r}")
    risk = int(found["risk"]) if found["risk"] is not None else None
    return PageKey(int(found["degree"]), int(found["at"]), found["alert_id"], risk)


_CURSOR = re.compile(r"(?:r(?P<risk>[0-9]{1,12}):)?"
                     r"(?P<degree>[1-9]):(?P<at>[0-9]{1,10}):(?P<alert_id>[0-9A-Za-z._-]{1,64})",
                     re.ASCII)
_MAX_CURSOR = 120


def case_of_row(row: tuple[Any, ...]) -> CaseRecord:
    (case_id, person_id, status, onset, sampled, reported, isolated, withdrawn) = row
    return CaseRecord(
        case_id=case_id,
        person_id=person_id,
        status=status,
        onset_at=utc_or_none(onset),
        sampled_at=utc_or_none(sampled),
        reported_at=utc(reported),
        isolated_at=utc_or_none(isolated),
        withdrawn_at=utc_or_none(withdrawn),
    )


def alert_of_row(row: tuple[Any, ...]) -> AlertRecord:
    """The record of a stored alert row: its exposures (all, or the page's first few) and
    how many it has in all."""
    (alert_id, case_id, person_id, degree, exposed_at, via, venue_ids, exposures, count,
     created_at, *risk) = row
    try:
        parsed = _EXPOSURES.validate_json(exposures)
    except ValidationError as exc:
        raise CorruptRowError(f"alert {alert_id} has unreadable exposures: {exc}") from exc
    return AlertRecord(
        alert_id=alert_id,
        case_id=case_id,
        person_id=person_id,
        degree=int(degree),
        exposed_at=utc(exposed_at),
        via_person_id=via or None,  # stored as '' for F1: the column is not Nullable
        venue_ids=tuple(venue_ids),
        exposures=tuple(parsed),
        exposure_count=int(count),
        created_at=utc(created_at),
        **({"risk_score": float(risk[0]), "risk_level": risk[1]} if risk else {}),
    )


def utc(value: datetime) -> datetime:
    # The driver returns DateTime('UTC') values as aware pytz datetimes; normalise to the
    # standard library's UTC so equality and JSON look the same everywhere.
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def epoch(value: datetime) -> int:
    return int(value.timestamp())


def window_params(since: datetime) -> dict[str, Any]:
    return {"since": int(since.timestamp()), "since_day": since.astimezone(UTC).date()}


def utc_seconds(seconds: int) -> datetime:
    return datetime.fromtimestamp(int(seconds), UTC)
