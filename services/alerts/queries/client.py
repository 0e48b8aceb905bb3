"""The connections that run the reads: a blocking client, and a small thread pool of them for
the asyncio service. Rows come back as records (``records``), built by ``helpers``.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from clickhouse_driver import Client
from clickhouse_driver.errors import Error as ClickHouseError

from schemas.audit import AuditEntry
from services.alerts.domain import Alert
from services.alerts.domain.graph import Edge
from services.alerts.domain.occupancy import Presence
from services.alerts.queries import sql
from services.alerts.queries.helpers import (
    CorruptRowError,
    alert_of_row,
    case_of_row,
    epoch,
    every_hour,
    figures_window,
    light_alert_of_row,
    utc,
    utc_seconds,
    window_params,
)
from services.alerts.queries.records import (
    AlertFilter,
    AlertPage,
    AlertRecord,
    CaseRecord,
    ClusterSummary,
    ContactAlert,
    DayCases,
    EventSummary,
    FollowUpChange,
    HeadlineFigures,
    HourScans,
    KindAlerts,
    OpenCase,
    OpenCases,
    PageKey,
    PersonAlert,
    Sealed,
    VenueScans,
)
from services.core.clickhouse import clickhouse_client
from services.core.config import Settings

log = logging.getLogger(__name__)


R = TypeVar("R")


class StoreUnavailableError(RuntimeError):
    """ClickHouse could not answer (down, restarting, or its tables missing): retry later."""


class TooManyContactsError(ValueError):
    """The venue-day has more contacts than one graph is built from."""


RISK_ABOVE_ALL = 2**62
"""A risk cursor above every score: the first page in risk order."""


class ClickHouseReads:
    """Blocking reads over one clickhouse-driver client, which must not be shared by threads."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def current_clusters(self, since: datetime) -> list[ClusterSummary]:
        """Clusters not dissolved whose window ends after ``since``, newest first."""
        rows = self._execute(sql.CURRENT_CLUSTERS, {"since": int(since.timestamp()),
                                                    "limit": sql.CLUSTERS_LISTED})
        return [ClusterSummary(cid, venue, name, kind, utc(start), utc(end), int(cases),
                               int(visitors), utc(detected))
                for cid, venue, name, kind, start, end, cases, visitors, detected in rows]

    def declared_events(self, since: datetime) -> list[EventSummary]:
        """Exposure events declared (not withdrawn) ending after ``since``, with alert counts."""
        rows = self._execute(sql.DECLARED_EVENTS, {"since": int(since.timestamp()),
                                                   "limit": sql.EVENTS_LISTED})
        return [EventSummary(eid, venue, name, utc(start), utc(end), action, int(alerts))
                for eid, venue, name, start, end, action, alerts in rows]

    def case(self, case_id: str) -> CaseRecord | None:
        rows = self._execute(sql.CASE, {"case_id": case_id})
        return case_of_row(rows[0]) if rows else None

    def current_alerts(self, case_id: str) -> list[AlertRecord]:
        """The case's alerts that are not retracted, lowest degree and earliest exposure first."""
        return [alert_of_row(row) for row in self._execute(sql.ALERTS, {"case_id": case_id})]

    def alert(self, case_id: str, alert_id: str) -> AlertRecord | None:
        """One current alert of the case, with every exposure; None if none is live."""
        rows = self._execute(sql.ALERT, {"case_id": case_id, "alert_id": alert_id})
        return alert_of_row(rows[0]) if rows else None

    def alert_page(self, case_id: str, which: AlertFilter, after: PageKey | None,
                   limit: int, by_risk: bool = False) -> AlertPage:
        """Up to ``limit`` of the case's current alerts after ``after``, each with its first
        :data:`~services.alerts.queries.sql.EXPOSURES_SHOWN` exposures; riskiest first with
        ``by_risk`` (``after`` then holds a risk)."""
        start = after or PageKey(0, 0, "", RISK_ABOVE_ALL if by_risk else None)
        params = {"case_id": case_id, "degree_min": which.degree_min,
                  "degree_max": which.degree_max, "since": which.since, "until": which.until,
                  "after_degree": start.degree, "after_at": start.exposed_at,
                  "after_id": start.alert_id, "limit": limit + 1}
        if by_risk:
            params["after_risk"] = RISK_ABOVE_ALL if start.risk is None else start.risk
        # One row more than the page tells "the last page" from "exactly a page left".
        rows = self._execute(sql.ALERT_PAGE_BY_RISK if by_risk else sql.ALERT_PAGE, params)
        alerts = tuple(alert_of_row(row) for row in rows[:limit])
        if len(rows) <= limit:
            return AlertPage(alerts, None)
        last = alerts[-1]
        risk = round(last.risk_score * 100) if by_risk else None
        return AlertPage(alerts, PageKey(last.degree, epoch(last.exposed_at), last.alert_id,
                                         risk))

    def exposure_event(self, event_id: str) -> tuple[Any, ...] | None:
        """The stored row of an exposure event (sql.EXPOSURE_EVENT's columns), if any."""
        rows = self._execute(sql.EXPOSURE_EVENT, {"event_id": event_id})
        return rows[0] if rows else None

    def event_alerts(self, event_id: str, limit: int) -> list[tuple[Any, ...]]:
        """The current alerts of an exposure event, as sql.EVENT_ALERTS's rows."""
        return self._execute(sql.EVENT_ALERTS, {"event_id": event_id, "limit": limit})

    def chain_alerts(self, case_id: str) -> list[Alert]:
        """Every current alert of the case without its exposures, as the chain needs them."""
        params = {"case_id": case_id, "limit": sql.MAX_CHAIN_ALERTS}
        return [light_alert_of_row(row) for row in self._execute(sql.CHAIN_ALERTS, params)]

    def venue_contacts(
        self, venue_id: str, day: date, limit: int = sql.MAX_GRAPH_CONTACTS
    ) -> list[Edge]:
        """The current contact edges of ``venue_id`` that started on ``day`` (UTC)."""
        # One row more than the limit tells "exactly the limit" from "more than it".
        rows = self._execute(sql.CONTACTS, {"venue_id": venue_id, "day": day, "limit": limit + 1})
        if len(rows) > limit:
            raise TooManyContactsError(
                f"venue {venue_id} had more than {limit} contacts on {day.isoformat()}; "
                "query the contacts table in ClickHouse directly for a graph this large"
            )
        return [Edge(v, a, b, int(start), int(end)) for v, a, b, start, end in rows]

    def venue_day_visits(self, venue_id: str, day: date) -> list[Presence]:
        """The current visits at ``venue_id`` that overlap the UTC ``day``."""
        since = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
        params = {"venue_id": venue_id, "day": day,
                  "last_day": day + timedelta(days=sql.MAX_DWELL_DAYS),
                  "since": since, "until": since + 86_400}
        return [Presence(person, int(start), int(end))
                for person, start, end in self._execute(sql.VENUE_DAY_VISITS, params)]

    def scans_per_hour(self, since: datetime, until: datetime) -> list[HourScans]:
        """Distinct scans and people of each UTC hour in ``[since, until)``, zeros included."""
        rows = self._execute(sql.SCANS_PER_HOUR, window_params(since))
        return every_hour(since, until, [
            HourScans(utc_seconds(hour), int(scans), int(people))
            for hour, scans, people in rows
            if utc_seconds(hour) < until
        ])

    def venue_hours(self, venue_id: str, since: datetime, until: datetime) -> list[HourScans]:
        """Distinct scans and visitors of ``venue_id`` in each UTC hour of ``[since, until)``,
        zeros included: its operator's own counts, never a person."""
        params = {**window_params(since), "venue_id": venue_id,
                  "until": int(until.timestamp()), "until_day": until.astimezone(UTC).date()}
        rows = self._execute(sql.VENUE_HOURS, params)
        return every_hour(since, until, [
            HourScans(utc_seconds(hour), int(scans), int(people)) for hour, scans, people in rows
        ])

    def busiest_venues(self, since: datetime, limit: int = sql.BUSIEST_VENUES) -> list[VenueScans]:
        """The ``limit`` venues with the most distinct scans since ``since``, most first."""
        rows = self._execute(sql.BUSIEST_VENUES_SQL, {**window_params(since), "limit": limit})
        return [VenueScans(venue_id, name, int(scans)) for venue_id, name, scans in rows]

    def open_cases(self, open_since: datetime, limit: int = sql.OPEN_CASES_LISTED) -> OpenCases:
        """Cases reported since ``open_since`` and not withdrawn: totals, and the newest."""
        params = {"open_since": int(open_since.timestamp()), "limit": limit}
        ((count, f1, f2, beyond),) = self._execute(sql.OPEN_CASES_TOTALS, params)
        newest = tuple(
            OpenCase(case_id, person_id, utc_seconds(reported), int(a), int(b), int(c))
            for case_id, person_id, reported, a, b, c in self._execute(sql.OPEN_CASES, params)
        )
        return OpenCases(int(count), int(f1), int(f2), int(beyond), newest)

    def cases_by_day(self, open_since: datetime) -> list[DayCases]:
        """Open cases and their alerts by the UTC day they were reported, oldest first."""
        rows = self._execute(sql.CASES_BY_DAY, {"open_since": int(open_since.timestamp())})
        return [DayCases(day, int(n), int(a), int(b), int(c)) for day, n, a, b, c in rows]

    def alerts_by_venue_kind(self, open_since: datetime) -> list[KindAlerts]:
        """Current alerts created since ``open_since`` by venue kind and degree."""
        rows = self._execute(sql.ALERTS_BY_VENUE_KIND,
                             {"open_since": int(open_since.timestamp())})
        return [KindAlerts(kind, int(degree), int(n)) for kind, degree, n in rows]

    def record_audit(self, entry: AuditEntry) -> None:
        """Append one audit entry (the table is append-only)."""
        row = (entry.at.date(), entry.at, entry.audit_id, entry.token_id, entry.role,
               entry.what, entry.case_id or "", entry.subject, entry.people)
        self._execute(sql.INSERT_AUDIT, [row])

    def audit_since(self, since: datetime, limit: int = 100_000) -> list[tuple[Any, ...]]:
        """Audit entries at or after ``since``, oldest first."""
        return self._execute(sql.AUDIT_SINCE, {"since": int(since.timestamp()), "limit": limit})

    def purge_audit_period(self, cutoff: datetime, database: str) -> list[str]:
        """Delete cases, alerts and audit days older than ``cutoff`` (rule 10); what went."""
        seconds = {"cutoff": int(cutoff.timestamp())}
        self._execute(sql.PURGE_CASES, seconds)
        self._execute(sql.PURGE_ALERTS, seconds)
        dropped = []
        for (partition,) in self._execute(sql.AUDIT_PARTITIONS, {"db": database}):
            if date.fromisoformat(partition) < cutoff.date():
                self._execute(f"ALTER TABLE audit DROP PARTITION '{partition}'", {})
                dropped.append(f"audit:{partition}")
        for (partition,) in self._execute(sql.FOLLOW_UP_PARTITIONS, {"db": database}):
            if date.fromisoformat(partition) < cutoff.date():
                self._execute(f"ALTER TABLE follow_ups DROP PARTITION '{partition}'", {})
                dropped.append(f"follow_ups:{partition}")
        return dropped

    # ------------------------------------------------------------ contact list and follow-up

    def contact_alerts(self, case_id: str) -> list[ContactAlert]:
        rows = self._execute(sql.CONTACT_ALERTS, {"case_id": case_id,
                                                  "limit": sql.MAX_CONTACT_LIST})
        return [ContactAlert(alert_id, person, int(degree), int(exposed), via or "",
                             tuple(venues), int(created), risk)
                for alert_id, person, degree, exposed, via, venues, created, risk in rows]

    def sealed_of(self, people: set[str]) -> dict[str, Sealed]:
        """The newest sealed identifier of each of ``people`` that has one."""
        found: dict[str, Sealed] = {}
        ordered = sorted(people)
        for start in range(0, len(ordered), 10_000):  # a bounded IN list per query
            chunk = tuple(ordered[start:start + 10_000])
            for pseudonym, key_id, sealed in self._execute(sql.DIRECTORY_OF, {"people": chunk}):
                found[pseudonym] = Sealed(key_id, sealed)
        return found

    def follow_up_states(self, case_id: str) -> dict[str, str]:
        """Each alert's current follow-up state, for the alerts that have one recorded."""
        return {alert_id: state for alert_id, state, _ in
                self._execute(sql.FOLLOW_UP_STATES, {"case_id": case_id})}

    def follow_up_reported(self, case_id: str) -> dict[str, str]:
        """alert id -> the case its person was reported as, for the case's contacts that were."""
        return dict(self._execute(sql.FOLLOW_UP_REPORTED, {"case_id": case_id}))

    def follow_up_history(self, case_id: str, alert_id: str) -> list[FollowUpChange]:
        rows = self._execute(sql.FOLLOW_UP_HISTORY, {"case_id": case_id, "alert_id": alert_id})
        return [FollowUpChange(at.replace(tzinfo=UTC) if at.tzinfo is None else at, state,
                               note, token, reported)
                for at, state, note, token, reported in rows]

    def record_follow_up(self, case_id: str, alert_id: str, change: FollowUpChange,
                         version: int) -> None:
        row = (change.at.date(), change.at, case_id, alert_id, change.state, change.note,
               change.token_id, change.reported_case_id, version)
        self._execute(sql.INSERT_FOLLOW_UP, [row])

    def follow_up_funnel(self, open_since: datetime) -> dict[str, int]:
        rows = self._execute(sql.FOLLOW_UP_FUNNEL, {"open_since": int(open_since.timestamp())})
        return {state: int(n) for state, n in rows}

    def person_cases(self, person: str, open_since: datetime) -> list[str]:
        params = {"person": person, "open_since": int(open_since.timestamp())}
        return [case_id for (case_id,) in self._execute(sql.PERSON_CASES, params)]

    def person_alerts(self, person: str, open_since: datetime) -> list[PersonAlert]:
        params = {"person": person, "open_since": int(open_since.timestamp())}
        return [PersonAlert(case_id, alert_id, int(degree), int(exposed), int(created))
                for case_id, alert_id, degree, exposed, created
                in self._execute(sql.PERSON_ALERTS, params)]

    def person_event_alerts(self, person: str, open_since: datetime) -> list[PersonAlert]:
        """The person's current alerts of exposure events still open (rule 11)."""
        params = {"person": person, "open_since": int(open_since.timestamp())}
        return [PersonAlert(event_id, alert_id, int(degree), int(exposed), int(created))
                for event_id, alert_id, degree, exposed, created
                in self._execute(sql.PERSON_EVENT_ALERTS, params)]

    def purge_directory(self, cutoff: datetime) -> None:
        self._execute(sql.PURGE_DIRECTORY, {"cutoff": int(cutoff.timestamp())})

    def close(self) -> None:
        self._client.disconnect()

    def _execute(self, query: str, params: dict[str, Any] | list[Any]) -> list[tuple[Any, ...]]:
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

    async def current_clusters(self, since: datetime) -> list[ClusterSummary]:
        return await self._run(lambda reads: reads.current_clusters(since))

    async def declared_events(self, since: datetime) -> list[EventSummary]:
        return await self._run(lambda reads: reads.declared_events(since))

    async def case(self, case_id: str) -> CaseRecord | None:
        return await self._run(lambda reads: reads.case(case_id))

    async def current_alerts(self, case_id: str) -> list[AlertRecord]:
        return await self._run(lambda reads: reads.current_alerts(case_id))

    async def alert(self, case_id: str, alert_id: str) -> AlertRecord | None:
        return await self._run(lambda reads: reads.alert(case_id, alert_id))

    async def alert_page(self, case_id: str, which: AlertFilter, after: PageKey | None,
                         limit: int, by_risk: bool = False) -> AlertPage:
        return await self._run(
            lambda reads: reads.alert_page(case_id, which, after, limit, by_risk))

    async def exposure_event(self, event_id: str) -> tuple[Any, ...] | None:
        return await self._run(lambda reads: reads.exposure_event(event_id))

    async def event_alerts(self, event_id: str, limit: int) -> list[tuple[Any, ...]]:
        return await self._run(lambda reads: reads.event_alerts(event_id, limit))

    async def chain_alerts(self, case_id: str) -> list[Alert]:
        return await self._run(lambda reads: reads.chain_alerts(case_id))

    async def venue_contacts(self, venue_id: str, day: date) -> list[Edge]:
        return await self._run(lambda reads: reads.venue_contacts(venue_id, day))

    async def venue_day_visits(self, venue_id: str, day: date) -> list[Presence]:
        return await self._run(lambda reads: reads.venue_day_visits(venue_id, day))

    async def venue_hours(self, venue_id: str, since: datetime,
                          until: datetime) -> list[HourScans]:
        return await self._run(lambda reads: reads.venue_hours(venue_id, since, until))

    async def record_audit(self, entry: AuditEntry) -> None:
        await self._run(lambda reads: reads.record_audit(entry))

    async def purge_audit_period(self, cutoff: datetime) -> list[str]:
        database = self._settings.clickhouse_database
        return await self._run(lambda reads: reads.purge_audit_period(cutoff, database))

    async def contact_alerts(self, case_id: str) -> list[ContactAlert]:
        return await self._run(lambda reads: reads.contact_alerts(case_id))

    async def sealed_of(self, people: set[str]) -> dict[str, Sealed]:
        return await self._run(lambda reads: reads.sealed_of(people))

    async def follow_up_states(self, case_id: str) -> dict[str, str]:
        return await self._run(lambda reads: reads.follow_up_states(case_id))

    async def follow_up_reported(self, case_id: str) -> dict[str, str]:
        return await self._run(lambda reads: reads.follow_up_reported(case_id))

    async def follow_up_history(self, case_id: str, alert_id: str) -> list[FollowUpChange]:
        return await self._run(lambda reads: reads.follow_up_history(case_id, alert_id))

    async def record_follow_up(self, case_id: str, alert_id: str, change: FollowUpChange,
                               version: int) -> None:
        await self._run(lambda reads: reads.record_follow_up(case_id, alert_id, change,
                                                             version))

    async def follow_up_funnel(self, open_since: datetime) -> dict[str, int]:
        return await self._run(lambda reads: reads.follow_up_funnel(open_since))

    async def person_cases(self, person: str, open_since: datetime) -> list[str]:
        return await self._run(lambda reads: reads.person_cases(person, open_since))

    async def person_alerts(self, person: str, open_since: datetime) -> list[PersonAlert]:
        return await self._run(lambda reads: reads.person_alerts(person, open_since))

    async def person_event_alerts(self, person: str, open_since: datetime) -> list[PersonAlert]:
        return await self._run(lambda reads: reads.person_event_alerts(person, open_since))

    async def purge_directory(self, cutoff: datetime) -> None:
        await self._run(lambda reads: reads.purge_directory(cutoff))

    async def headline_figures(self, now: datetime, open_for: timedelta) -> HeadlineFigures:
        """The dashboard's figures at ``now``; cases reported within ``open_for`` count as open.

        The reads run side by side on the pool's connections.
        """
        since, until = figures_window(now)
        open_since = now.astimezone(UTC) - open_for
        hourly, busiest, cases, by_day, by_kind = await asyncio.gather(
            self._run(lambda reads: reads.scans_per_hour(since, until)),
            self._run(lambda reads: reads.busiest_venues(since)),
            self._run(lambda reads: reads.open_cases(open_since)),
            self._run(lambda reads: reads.cases_by_day(open_since)),
            self._run(lambda reads: reads.alerts_by_venue_kind(open_since)),
        )
        return HeadlineFigures(since, until, tuple(hourly), tuple(busiest), cases, open_since,
                               tuple(by_day), tuple(by_kind))

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




__all__ = ["AlertsQueries", "ClickHouseReads", "CorruptRowError", "StoreUnavailableError",
           "TooManyContactsError"]
