"""The alerts API's one ClickHouse adapter: a case, its current alerts, a venue's contacts of a day,
and the dashboard's headline figures.

Reads only. The derived tables are ReplacingMergeTree(version) with a ``deleted`` flag (see
``deploy/clickhouse/migrations/0001_init.sql``), so every read takes the ``FINAL`` rows of its
keys and then drops the ``deleted`` ones: a row replayed after a crash is seen once and a
retracted one not at all, whatever ClickHouse has merged so far. Rows come back as plain
values; nothing above this module sees SQL.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, TypeVar

from clickhouse_driver import Client
from clickhouse_driver.errors import Error as ClickHouseError
from pydantic import TypeAdapter, ValidationError

from schemas.alerts import Exposure
from services.alerts.domain import Alert, ChainNode, transmission_chain
from services.alerts.domain import Exposure as DomainExposure
from services.core.clickhouse import clickhouse_client
from services.core.config import Settings
from services.tracer.graph import Edge

log = logging.getLogger(__name__)

R = TypeVar("R")

MAX_GRAPH_CONTACTS = 100_000
"""Most contact edges one venue-day graph is built from: beyond it the node-link JSON would be
tens of megabytes and the graph gigabytes in memory, which no dashboard can show anyway."""

_EXPOSURES = TypeAdapter(list[Exposure])

_CASE = """
SELECT case_id, person_id, status, onset_at, sampled_at, reported_at, isolated_at, withdrawn_at
FROM cases FINAL
WHERE case_id = %(case_id)s
ORDER BY version DESC
LIMIT 1
"""

# Key conditions inside FINAL, the `deleted` flag outside it: a filter on a non-key column
# that ClickHouse moved before the merge (PREWHERE) could keep a row its retraction replaced.
_ALERTS = """
SELECT alert_id, case_id, person_id, degree, exposed_at, via_person_id, venue_ids, exposures,
       created_at
FROM (
    SELECT alert_id, case_id, person_id, degree, exposed_at, via_person_id, venue_ids,
           exposures, created_at, deleted
    FROM alerts FINAL
    WHERE case_id = %(case_id)s
)
WHERE deleted = 0
ORDER BY degree, exposed_at, person_id
"""

# `venue_id = … AND day = …` is the primary-key range read the contacts table is ordered for.
_CONTACTS = """
SELECT venue_id, person_a, person_b, toUInt32(started_at), toUInt32(ended_at)
FROM (
    SELECT venue_id, person_a, person_b, started_at, ended_at, contact_id, deleted
    FROM contacts FINAL
    WHERE venue_id = %(venue_id)s AND day = %(day)s
)
WHERE deleted = 0
ORDER BY started_at, contact_id
LIMIT %(limit)s
"""


FIGURES_HOURS = 24
"""The headline figures cover this many UTC hours, the current (partial) one included."""

BUSIEST_VENUES = 10
OPEN_CASES_LISTED = 100
"""Open cases listed one by one (newest first); all of them are counted."""

# The figures read the views of 0002_dashboard_views.sql, which Grafana reads too. `day` first:
# pushed into the view (the SETTINGS clause, the default of current releases) it prunes whole
# day partitions of `scans`, so a figure reads one or two days, not the retention horizon.
_SCANS_PER_HOUR = """
SELECT toUInt32(hour), scans, people
FROM scans_per_hour
WHERE day >= %(since_day)s AND hour >= toDateTime(%(since)s)
ORDER BY hour
SETTINGS enable_optimize_predicate_expression = 1
"""

_BUSIEST_VENUES = """
SELECT venue_id, if(name = '', venue_id, name), scans
FROM
(
    SELECT venue_id, sum(scans) AS scans
    FROM venue_activity
    WHERE day >= %(since_day)s AND hour >= toDateTime(%(since)s)
    GROUP BY venue_id
    ORDER BY scans DESC, venue_id
    LIMIT %(limit)s
) AS busiest
ANY LEFT JOIN venue_names AS names USING venue_id
ORDER BY scans DESC, venue_id
SETTINGS enable_optimize_predicate_expression = 1
"""

# "Open": the latest version of the case is not a withdrawal, and it was reported within the
# retention horizon — the cases the alerts worker still re-traces as late scans arrive.
_OPEN_CASES_TOTALS = """
SELECT count(), sum(f1), sum(f2), sum(beyond_f2)
FROM case_alert_counts
WHERE status = 'reported' AND reported_at >= toDateTime(%(open_since)s)
"""

_OPEN_CASES = """
SELECT case_id, person_id, toUInt32(reported_at), f1, f2, beyond_f2
FROM case_alert_counts
WHERE status = 'reported' AND reported_at >= toDateTime(%(open_since)s)
ORDER BY reported_at DESC, case_id
LIMIT %(limit)s
"""


class StoreUnavailableError(RuntimeError):
    """ClickHouse could not answer (down, restarting, or its tables missing): retry later."""


class CorruptRowError(RuntimeError):
    """A stored row this code cannot read back — a writer bug, never the caller's fault."""


class TooManyContactsError(ValueError):
    """The venue-day has more contacts than one graph is built from."""


@dataclass(frozen=True, slots=True)
class CaseRecord:
    """The latest stored version of a case (rule 5)."""

    case_id: str
    person_id: str
    status: Literal["reported", "withdrawn"]
    onset_at: datetime | None
    sampled_at: datetime | None
    reported_at: datetime
    isolated_at: datetime | None
    withdrawn_at: datetime | None


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """A current alert as stored (rule 8's fields); ``via_person_id`` is None for F1."""

    alert_id: str
    case_id: str
    person_id: str
    degree: int
    exposed_at: datetime
    via_person_id: str | None
    venue_ids: tuple[str, ...]
    exposures: tuple[Exposure, ...]
    created_at: datetime

    def to_domain(self) -> Alert:
        """The alerts domain's value of this alert (epoch seconds), e.g. to build a chain."""
        return Alert(
            alert_id=self.alert_id,
            case_id=self.case_id,
            person=self.person_id,
            degree=self.degree,
            exposed_at=_epoch(self.exposed_at),
            via_person=self.via_person_id,
            venue_ids=self.venue_ids,
            exposures=tuple(
                DomainExposure(
                    contact_id=e.contact_id,
                    venue_id=e.venue_id,
                    other_person=e.other_person_id,
                    start=_epoch(e.start),
                    end=_epoch(e.end),
                )
                for e in self.exposures
            ),
        )


@dataclass(frozen=True, slots=True)
class HourScans:
    """Distinct scans and people in one UTC hour."""

    hour: datetime
    scans: int
    people: int


@dataclass(frozen=True, slots=True)
class VenueScans:
    """A venue's distinct scans over the figures' window; ``name`` is its id if none is stored."""

    venue_id: str
    name: str
    scans: int


@dataclass(frozen=True, slots=True)
class OpenCase:
    """A case that is reported and not withdrawn, with its current alerts by degree."""

    case_id: str
    person_id: str
    reported_at: datetime
    f1: int
    f2: int
    beyond_f2: int


@dataclass(frozen=True, slots=True)
class OpenCases:
    """How many cases are open and how many people they alert; the newest listed one by one."""

    count: int
    f1: int
    f2: int
    beyond_f2: int
    newest: tuple[OpenCase, ...]


@dataclass(frozen=True, slots=True)
class HeadlineFigures:
    """The dashboard's headline numbers over ``[since, until)``, every hour present."""

    since: datetime
    until: datetime
    scans_per_hour: tuple[HourScans, ...]
    busiest_venues: tuple[VenueScans, ...]
    open_cases: OpenCases
    open_since: datetime


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
    return transmission_chain(case.case_id, case.person_id, [a.to_domain() for a in alerts])


class ClickHouseReads:
    """Blocking reads over one clickhouse-driver client, which must not be shared by threads."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def case(self, case_id: str) -> CaseRecord | None:
        rows = self._execute(_CASE, {"case_id": case_id})
        if not rows:
            return None
        (case_id, person_id, status, onset, sampled, reported, isolated, withdrawn) = rows[0]
        return CaseRecord(
            case_id=case_id,
            person_id=person_id,
            status=status,
            onset_at=_utc_or_none(onset),
            sampled_at=_utc_or_none(sampled),
            reported_at=_utc(reported),
            isolated_at=_utc_or_none(isolated),
            withdrawn_at=_utc_or_none(withdrawn),
        )

    def current_alerts(self, case_id: str) -> list[AlertRecord]:
        """The case's alerts that are not retracted, lowest degree and earliest exposure first."""
        return [_alert(row) for row in self._execute(_ALERTS, {"case_id": case_id})]

    def venue_contacts(
        self, venue_id: str, day: date, limit: int = MAX_GRAPH_CONTACTS
    ) -> list[Edge]:
        """The current contact edges of ``venue_id`` that started on ``day`` (UTC)."""
        # One row more than the limit tells "exactly the limit" from "more than it".
        rows = self._execute(_CONTACTS, {"venue_id": venue_id, "day": day, "limit": limit + 1})
        if len(rows) > limit:
            raise TooManyContactsError(
                f"venue {venue_id} had more than {limit} contacts on {day.isoformat()}; "
                "query the contacts table in ClickHouse directly for a graph this large"
            )
        return [Edge(v, a, b, int(start), int(end)) for v, a, b, start, end in rows]

    def scans_per_hour(self, since: datetime, until: datetime) -> list[HourScans]:
        """Distinct scans and people of each UTC hour in ``[since, until)``, zeros included."""
        rows = self._execute(_SCANS_PER_HOUR, _window_params(since))
        return every_hour(since, until, [
            HourScans(_utc_seconds(hour), int(scans), int(people))
            for hour, scans, people in rows
            if _utc_seconds(hour) < until
        ])

    def busiest_venues(self, since: datetime, limit: int = BUSIEST_VENUES) -> list[VenueScans]:
        """The ``limit`` venues with the most distinct scans since ``since``, most first."""
        rows = self._execute(_BUSIEST_VENUES, {**_window_params(since), "limit": limit})
        return [VenueScans(venue_id, name, int(scans)) for venue_id, name, scans in rows]

    def open_cases(self, open_since: datetime, limit: int = OPEN_CASES_LISTED) -> OpenCases:
        """Cases reported since ``open_since`` and not withdrawn: totals, and the newest."""
        params = {"open_since": int(open_since.timestamp()), "limit": limit}
        ((count, f1, f2, beyond),) = self._execute(_OPEN_CASES_TOTALS, params)
        newest = tuple(
            OpenCase(case_id, person_id, _utc_seconds(reported), int(a), int(b), int(c))
            for case_id, person_id, reported, a, b, c in self._execute(_OPEN_CASES, params)
        )
        return OpenCases(int(count), int(f1), int(f2), int(beyond), newest)

    def close(self) -> None:
        self._client.disconnect()

    def _execute(self, query: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        # One retry: the first query after a ClickHouse restart fails on the stale connection,
        # and the driver reconnects on the next one.
        for attempt in (1, 2):
            try:
                rows: list[tuple[Any, ...]] = self._client.execute(query, params)
            except (ClickHouseError, OSError, EOFError) as exc:
                self._client.disconnect()
                if attempt == 2:
                    raise StoreUnavailableError(f"ClickHouse did not answer: {exc!r}") from exc
                log.warning("ClickHouse query failed (%r); reconnecting once", exc)
            else:
                return rows
        raise AssertionError("unreachable")


class AlertsQueries:
    """The same reads for an asyncio service: a few threads, each with a connection of its own.

    clickhouse-driver blocks and its client is not thread-safe, so each worker thread of the
    pool lazily opens one client and keeps it; the pool size bounds the connections.
    """

    def __init__(self, settings: Settings, workers: int = 4) -> None:
        self._settings = settings
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="clickhouse")
        self._local = threading.local()
        self._opened: list[ClickHouseReads] = []
        self._lock = threading.Lock()

    async def case(self, case_id: str) -> CaseRecord | None:
        return await self._run(lambda reads: reads.case(case_id))

    async def current_alerts(self, case_id: str) -> list[AlertRecord]:
        return await self._run(lambda reads: reads.current_alerts(case_id))

    async def venue_contacts(self, venue_id: str, day: date) -> list[Edge]:
        return await self._run(lambda reads: reads.venue_contacts(venue_id, day))

    async def headline_figures(self, now: datetime, open_for: timedelta) -> HeadlineFigures:
        """The dashboard's figures at ``now``; cases reported within ``open_for`` count as open.

        The three reads run side by side on the pool's connections.
        """
        since, until = figures_window(now)
        open_since = now.astimezone(UTC) - open_for
        hourly, busiest, cases = await asyncio.gather(
            self._run(lambda reads: reads.scans_per_hour(since, until)),
            self._run(lambda reads: reads.busiest_venues(since)),
            self._run(lambda reads: reads.open_cases(open_since)),
        )
        return HeadlineFigures(since, until, tuple(hourly), tuple(busiest), cases, open_since)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            for reads in self._opened:
                reads.close()
            self._opened.clear()

    async def _run(self, read: Callable[[ClickHouseReads], R]) -> R:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(self._in_thread, read))

    def _in_thread(self, read: Callable[[ClickHouseReads], R]) -> R:
        reads: ClickHouseReads | None = getattr(self._local, "reads", None)
        if reads is None:
            reads = ClickHouseReads(clickhouse_client(self._settings))
            self._local.reads = reads
            with self._lock:
                self._opened.append(reads)
        return read(reads)


def _alert(row: tuple[Any, ...]) -> AlertRecord:
    (alert_id, case_id, person_id, degree, exposed_at, via, venue_ids, exposures, created_at) = row
    try:
        parsed = _EXPOSURES.validate_json(exposures)
    except ValidationError as exc:
        raise CorruptRowError(f"alert {alert_id} has unreadable exposures: {exc}") from exc
    return AlertRecord(
        alert_id=alert_id,
        case_id=case_id,
        person_id=person_id,
        degree=int(degree),
        exposed_at=_utc(exposed_at),
        via_person_id=via or None,  # stored as '' for F1: the column is not Nullable
        venue_ids=tuple(venue_ids),
        exposures=tuple(parsed),
        created_at=_utc(created_at),
    )


def _utc(value: datetime) -> datetime:
    # The driver returns DateTime('UTC') values as aware pytz datetimes; normalise to the
    # standard library's UTC so equality and JSON look the same everywhere.
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _utc_or_none(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


def _epoch(value: datetime) -> int:
    return int(value.timestamp())


def _window_params(since: datetime) -> dict[str, Any]:
    return {"since": int(since.timestamp()), "since_day": since.astimezone(UTC).date()}


def _utc_seconds(seconds: int) -> datetime:
    return datetime.fromtimestamp(int(seconds), UTC)
