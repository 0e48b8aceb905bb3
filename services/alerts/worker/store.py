"""The alerts worker's one ClickHouse adapter: contact reads, case and alert writes, recovery,
and the registry's copy of the venues."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

import orjson
from clickhouse_driver import Client
from clickhouse_driver.errors import Error as ClickHouseError

from schemas.venues import MAX_DWELL_LIMIT_S
from services.alerts.domain import Alert, Case, ContactEdge, Exposure
from services.alerts.domain.clusters import CasePresence, Cluster, ClusterRule
from services.alerts.domain.venue_events import VenueEvent, Visit
from services.core.clickhouse import clickhouse_client, utc, utc_day
from services.core.config import Settings
from services.core.metrics import observed_insert

log = logging.getLogger(__name__)
T = TypeVar("T")
# A row of `venues`: venue_id, name, kind, default_dwell_s, max_dwell_s, min_overlap_s,
# created_at, version (the record's offset in the registry topic).
VenueRow = tuple[str, str, str, int, int, int, int, int, int, datetime, int]
"""venue_id, name, kind, dwell rules, its own cluster rule (min_cases, window_days,
min_presence_s; 0s: its kind's), created at, version."""
VenueKindRule = tuple[str, ClusterRule | None]
"""A venue's kind and its own cluster rule (None: its kind's default)."""
DirectoryRow = tuple[str, str, str, datetime]
"""pseudonym, key id, sealed identifier, sealed at."""

# Current contacts of some persons, in two primary-key range reads. First the venues where they
# were during the window, each with their earliest visit start there (`visits_by_person`, person
# first in its key; a visit retracted since only adds a venue to look at). A visit is no longer
# than its venue's max dwell, at most MAX_DWELL_LIMIT_S, which bounds its start; `day` there is
# the day a visit ends.
VISITED = """
SELECT venue_id, toUInt32(min(started_at))
FROM visits_by_person
WHERE person_id IN %(persons)s
  AND day >= %(since_day)s
  AND started_at >= %(visits_from)s AND started_at <= %(until)s
  AND ended_at >= %(since)s
GROUP BY venue_id
"""
# Then those venues' contacts in the window (`contacts`, venue first in its key), of which those
# with one of the persons are kept. A contact lies within a visit of each of its people, so it
# starts no earlier than the earliest of those visits.
# Without FINAL: every version of a contact has the same content, so the range conditions select
# all of its versions, and GROUP BY + argMax keeps the newest (a retraction wins over the upsert
# it replaces). On ClickHouse 18.16 this reads ~10x faster than FINAL, which merges every part
# of the partitions it touches. `day` (the day a contact starts) prunes partitions.
EDGES = """
SELECT contact_id, any(venue_id), any(person_a), any(person_b),
       toUInt32(any(started_at)), toUInt32(any(ended_at))
FROM contacts
WHERE venue_id IN %(venues)s
  AND day >= %(earliest_day)s AND day <= %(until_day)s
  AND started_at >= %(earliest)s AND started_at <= %(until)s
  AND ended_at >= %(since)s
  AND (person_a IN %(persons)s OR person_b IN %(persons)s)
GROUP BY contact_id
HAVING argMax(deleted, version) = 0
"""

# The current visits of a venue overlapping a window: `visits` is venue first in its key, and a
# visit is at most MAX_DWELL_LIMIT_S long, which bounds its start. As EDGES: every version of a
# visit has the same content, the newest decides whether it is retracted.
VENUE_VISITS = """
SELECT visit_id, any(venue_id), any(person_id), toUInt32(any(started_at)),
       toUInt32(any(ended_at))
FROM visits
WHERE venue_id = %(venue)s
  AND day >= %(since_day)s AND day <= %(until_day)s
  AND started_at >= %(visits_from)s AND started_at <= %(until)s
  AND ended_at >= %(since)s
GROUP BY visit_id
HAVING argMax(deleted, version) = 0
"""

# A digest of every stored row VENUE_VISITS reads (any version): a new visit, a correction or a
# retraction is a new row and changes it, so an unchanged digest means an unchanged answer
# (a merge that drops old versions changes it too: one needless re-read). One row back, where
# VENUE_VISITS brings every visit of the window back into Python.
VENUE_VISITS_DIGEST = """
SELECT count(), sum(cityHash64(visit_id, version, deleted))
FROM visits
WHERE venue_id = %(venue)s
  AND day >= %(since_day)s AND day <= %(until_day)s
  AND started_at >= %(visits_from)s AND started_at <= %(until)s
  AND ended_at >= %(since)s
"""

# The visits of some persons (cases' F0s) that may meet their windows, newest version each.
PERSON_VISITS = """
SELECT visit_id, any(venue_id), any(person_id), toUInt32(any(started_at)),
       toUInt32(any(ended_at))
FROM visits_by_person
WHERE person_id IN %(persons)s
  AND day >= %(since_day)s
  AND started_at >= %(visits_from)s AND started_at <= %(until)s
  AND ended_at >= %(since)s
GROUP BY visit_id
HAVING argMax(deleted, version) = 0
"""

VENUE_KINDS = """
SELECT venue_id, argMax(kind, version), argMax(cluster_min_cases, version),
       argMax(cluster_window_days, version), argMax(cluster_min_presence_s, version)
FROM venues WHERE venue_id IN %(venues)s GROUP BY venue_id
"""

CLUSTERS = """
SELECT cluster_id, venue_id, toUInt32(started_at), toUInt32(ended_at), case_ids, visit_ids
FROM (SELECT cluster_id, venue_id, started_at, ended_at, case_ids, visit_ids, deleted
      FROM clusters FINAL)
WHERE deleted = 0
"""

EVENTS = (
    "SELECT event_id, venue_id, toUInt32(started_at), toUInt32(ended_at), message, action,"
    " min_presence_s, with_contacts, toUInt32(declared_at), status FROM exposure_events FINAL"
)

CASES = (
    "SELECT case_id, person_id, status, toUInt32(reported_at), toUInt32(onset_at),"
    " toUInt32(sampled_at), toUInt32(isolated_at) FROM cases FINAL"
)


def visited_params(persons: set[str], since: int, until: int) -> dict[str, Any]:
    """The parameters of :data:`VISITED` for ``persons`` during ``[since, until]``."""
    return {
        "persons": tuple(persons),
        "since_day": utc_day(since),
        "visits_from": utc(max(0, since - MAX_DWELL_LIMIT_S)),
        "until": utc(until),
        "since": utc(since),
    }


def venue_window_params(venue_id: str, since: int, until: int) -> dict[str, Any]:
    """Parameters of VENUE_VISITS and VENUE_VISITS_DIGEST."""
    visits_from = max(0, since - MAX_DWELL_LIMIT_S)
    return {"venue": venue_id, "since_day": utc_day(visits_from), "until_day": utc_day(until),
            "visits_from": utc(visits_from), "until": utc(until), "since": utc(since)}


def edge_params(persons: set[str], visited: list[tuple[str, int]], since: int,
                until: int) -> dict[str, Any]:
    """The parameters of :data:`EDGES` for the contacts of ``persons`` overlapping
    ``[since, until]``, given :data:`VISITED`'s rows for them (not empty)."""
    earliest = min(start for _, start in visited)
    return {
        "persons": tuple(persons),
        "venues": tuple(venue for venue, _ in visited),
        "earliest": utc(earliest),
        "until": utc(until),
        "since": utc(since),
        "earliest_day": utc_day(earliest),
        "until_day": utc_day(until),
    }


class AlertStore:
    """Reads contacts and writes cases and alerts; a failed call is retried, never skipped."""

    def __init__(self, settings: Settings, retry_cap_s: float = 10.0) -> None:
        self._settings = settings
        self._retry_cap_s = retry_cap_s
        self._client: Client | None = None

    def _with_retry(self, call: Callable[[Client], T]) -> T:
        delay = 0.2
        while True:
            try:
                if self._client is None:
                    self._client = clickhouse_client(self._settings)
                return call(self._client)
            except (ClickHouseError, OSError, EOFError) as exc:
                log.warning("ClickHouse call failed (%r); retrying in %.1fs", exc, delay)
                if self._client is not None:
                    self._client.disconnect()
                    self._client = None
                time.sleep(delay)
                delay = min(self._retry_cap_s, delay * 2)

    def edges_of(self, persons: set[str], since: int, until: int) -> list[ContactEdge]:
        """Every current contact of ``persons`` overlapping ``[since, until]``."""
        if not persons:
            return []
        window = visited_params(persons, since, until)
        visited = self._with_retry(lambda c: c.execute(VISITED, window))
        if not visited:
            return []
        params = edge_params(persons, visited, since, until)
        rows = self._with_retry(lambda c: c.execute(EDGES, params))
        return [ContactEdge(cid, venue, a, b, int(s), int(e)) for cid, venue, a, b, s, e in rows]

    def visits_at(self, venue_id: str, since: int, until: int) -> list[Visit]:
        """Every current visit of ``venue_id`` overlapping ``[since, until]``."""
        params = venue_window_params(venue_id, since, until)
        rows = self._with_retry(lambda c: c.execute(VENUE_VISITS, params))
        return [Visit(vid, venue, person, int(s), int(e)) for vid, venue, person, s, e in rows]

    def visits_digest(self, venue_id: str, since: int, until: int) -> tuple[int, int]:
        """What :meth:`visits_at` would read, digested: equal digests, equal visits."""
        params = venue_window_params(venue_id, since, until)
        rows = self._with_retry(lambda c: c.execute(VENUE_VISITS_DIGEST, params))
        count, digest = rows[0] if rows else (0, 0)
        return int(count), int(digest or 0)

    def write_event(self, event: VenueEvent, status: str, version: int) -> None:
        row = (event.event_id, event.venue_id, utc(event.start), utc(event.end), event.message,
               event.action, event.min_presence_s, int(event.with_contacts),
               utc(event.declared_at), status, version)
        self._with_retry(lambda c: observed_insert(
            c, "exposure_events",
            "INSERT INTO exposure_events (event_id, venue_id, started_at, ended_at, message,"
            " action, min_presence_s, with_contacts, declared_at, status, version) VALUES",
            [row]))

    def events(self, event_id: str | None = None) -> list[tuple[VenueEvent, str]]:
        """Every stored exposure event with its status (``declared``/``withdrawn``)."""
        query = EVENTS if event_id is None else EVENTS + " WHERE event_id = %(event)s"
        rows = self._with_retry(lambda c: c.execute(query, {"event": event_id}))
        return [(VenueEvent(event_id=eid, venue_id=venue, start=int(s), end=int(e),
                            message=message, action=action, min_presence_s=int(presence),
                            with_contacts=bool(contacts), declared_at=int(declared)), status)
                for eid, venue, s, e, message, action, presence, contacts, declared, status
                in rows]

    def case_presences(self, reported_since: int) -> list[CasePresence]:
        """The visits of every open case's F0 that meet the case's infectious window."""
        cases = [case for case, status in self._cases()
                 if status == "reported" and case.reported_at >= reported_since]
        if not cases:
            return []
        since = min(c.window.start for c in cases)
        until = max(c.window.end for c in cases)
        params = visited_params({c.person for c in cases}, since, until)
        rows = self._with_retry(lambda c: c.execute(PERSON_VISITS, params))
        cases_of: dict[str, list[Case]] = {}
        for case in cases:
            cases_of.setdefault(case.person, []).append(case)
        return [CasePresence(case.case_id, venue, vid, int(s), int(e), case.window.start,
                             case.window.end)
                for vid, venue, person, s, e in rows for case in cases_of.get(person, [])
                if int(s) <= case.window.end and int(e) >= case.window.start]

    def venue_kinds(self, venues: set[str]) -> dict[str, VenueKindRule]:
        """Each venue's kind and its own cluster rule (None: the kind's), as registered."""
        if not venues:
            return {}
        rows = self._with_retry(lambda c: c.execute(VENUE_KINDS, {"venues": tuple(venues)}))
        return {venue: (kind, ClusterRule(int(cases), int(days), int(presence))
                        if cases else None)
                for venue, kind, cases, days, presence in rows}

    def clusters(self) -> list[Cluster]:
        """The clusters last published, not dissolved."""
        rows = self._with_retry(lambda c: c.execute(CLUSTERS))
        return [Cluster(cid, venue, int(s), int(e), tuple(cases), tuple(visits))
                for cid, venue, s, e, cases, visits in rows]

    def write_clusters(self, rows: list[tuple[Cluster, str, int, int, bool]],
                       version: int) -> None:
        """Clusters as (cluster, venue kind, visitors, detected_at, deleted) rows."""
        values = [(c.cluster_id, c.venue_id, kind, utc(c.start), utc(c.end), list(c.case_ids),
                   list(c.visit_ids), visitors, utc(detected), int(deleted), version)
                  for c, kind, visitors, detected, deleted in rows]
        if values:
            self._with_retry(lambda c: observed_insert(
                c, "clusters",
                "INSERT INTO clusters (cluster_id, venue_id, venue_kind, started_at, ended_at,"
                " case_ids, visit_ids, visitors, detected_at, deleted, version) VALUES", values))

    def venue_alerts_paused(self) -> bool:
        """The kill switch of venue alerts: the newest row of ``exposure_switch`` (off if none)."""
        rows = self._with_retry(lambda c: c.execute(
            "SELECT paused FROM exposure_switch ORDER BY version DESC LIMIT 1"))
        return bool(rows and rows[0][0])

    def write_case(self, case: Case, status: str, withdrawn_at: int | None, version: int) -> None:
        row = (
            case.case_id,
            case.person,
            status,
            _dt(case.onset_at),
            _dt(case.sampled_at),
            utc(case.reported_at),
            _dt(case.isolated_at),
            _dt(withdrawn_at),
            version,
        )
        self._with_retry(
            lambda c: observed_insert(
                c, "cases",
                "INSERT INTO cases (case_id, person_id, status, onset_at, sampled_at, reported_at,"
                " isolated_at, withdrawn_at, version) VALUES",
                [row],
            )
        )

    def write_alerts(self, rows: Iterable[tuple[Alert, int, bool]], version: int) -> None:
        """Alerts as (alert, created_at, deleted) rows."""
        values = [
            (
                a.case_id,
                a.alert_id,
                a.person,
                a.degree,
                utc(a.exposed_at),
                a.via_person or "",
                list(a.venue_ids),
                orjson.dumps([_exposure_json(e) for e in a.exposures]).decode(),
                utc(created_at),
                int(deleted),
                version,
                a.risk_score,
                a.risk_level,
            )
            for a, created_at, deleted in rows
        ]
        if values:
            self._with_retry(
                lambda c: observed_insert(
                    c, "alerts",
                    "INSERT INTO alerts (case_id, alert_id, person_id, degree, exposed_at,"
                    " via_person_id, venue_ids, exposures, created_at, deleted, version,"
                    " risk_score, risk_level) VALUES",
                    values,
                )
            )

    def open_cases(self, reported_since: int) -> list[tuple[Case, list[tuple[Alert, int]]]]:
        """Cases still reported (not withdrawn) since ``reported_since``, with live alerts."""
        cases = {
            case.case_id: case
            for case, status in self._cases()
            if status == "reported" and case.reported_at >= reported_since
        }
        alerts = self.live_alerts(set(cases))
        return [(case, alerts.get(cid, [])) for cid, case in cases.items()]

    def case_of(self, case_id: str) -> tuple[Case, str] | None:
        """The stored case ``case_id`` and its status (``reported``/``withdrawn``), if any."""
        found = self._cases(case_id)
        return found[0] if found else None

    def live_alerts(self, case_ids: set[str]) -> dict[str, list[tuple[Alert, int]]]:
        """The live (not retracted) alerts of ``case_ids`` with their ``created_at``, by case."""
        if not case_ids:
            return {}
        alert_rows = self._with_retry(
            lambda c: c.execute(
                "SELECT case_id, alert_id, person_id, degree, toUInt32(exposed_at), via_person_id,"
                " venue_ids, exposures, toUInt32(created_at), deleted, risk_score, risk_level"
                " FROM alerts FINAL WHERE case_id IN %(cases)s",
                {"cases": tuple(sorted(case_ids))},
            )
        )
        alerts: dict[str, list[tuple[Alert, int]]] = {}
        for (
            cid,
            aid,
            person,
            degree,
            exposed,
            via,
            venues,
            exposures,
            created,
            deleted,
            risk_score,
            risk_level,
        ) in alert_rows:
            if deleted:
                continue
            alert = Alert(
                alert_id=aid,
                case_id=cid,
                person=person,
                degree=int(degree),
                exposed_at=int(exposed),
                via_person=via or None,
                venue_ids=tuple(venues),
                exposures=tuple(_exposure_of(e) for e in orjson.loads(exposures)),
                risk_score=float(risk_score),
                risk_level=risk_level,
            )
            alerts.setdefault(cid, []).append((alert, int(created)))
        return alerts

    def _cases(self, case_id: str | None = None) -> list[tuple[Case, str]]:
        """Every stored case with its status, or the one ``case_id``."""
        query = CASES if case_id is None else CASES + " WHERE case_id = %(case)s"
        rows = self._with_retry(lambda c: c.execute(query, {"case": case_id}))
        return [
            (
                Case(
                    case_id=case_id,
                    person=person,
                    onset_at=_ts(onset),
                    sampled_at=_ts(sampled),
                    reported_at=int(reported_at),
                    isolated_at=_ts(isolated),
                ),
                status,
            )
            for case_id, person, status, reported_at, onset, sampled, isolated in rows
        ]

    def write_venues(self, rows: list[VenueRow]) -> None:
        """Rows of the registry's copy (``services/alerts/worker/venues.py``)."""
        if rows:
            self._with_retry(
                lambda c: observed_insert(
                    c, "venues",
                    "INSERT INTO venues (venue_id, name, kind, default_dwell_s, max_dwell_s,"
                    " min_overlap_s, cluster_min_cases, cluster_window_days,"
                    " cluster_min_presence_s, created_at, version) VALUES",
                    rows,
                )
            )

    def write_directory(self, rows: list[DirectoryRow]) -> None:
        """Sealed directory entries (``services/alerts/worker/directory.py``)."""
        if rows:
            self._with_retry(
                lambda c: observed_insert(
                    c, "directory",
                    "INSERT INTO directory (pseudonym, key_id, sealed, sealed_at) VALUES", rows,
                )
            )

    def venues_copied_through(self) -> int | None:
        """The registry offset of the newest venue record copied, or None if none is."""
        ((count, newest),) = self._with_retry(
            lambda c: c.execute("SELECT count(), max(version) FROM venues")
        )
        return int(newest) if count else None

    def close(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client = None


def _exposure_json(e: Exposure) -> dict[str, Any]:
    """An exposure as stored: the wire form of ``schemas.alerts.Exposure``."""
    return {
        "contact_id": e.contact_id,
        "venue_id": e.venue_id,
        "other_person_id": e.other_person,
        "start": utc(e.start).isoformat(),
        "end": utc(e.end).isoformat(),
    }


def _exposure_of(data: dict[str, Any]) -> Exposure:
    return Exposure(
        data["contact_id"],
        data["venue_id"],
        data["other_person_id"],
        int(datetime.fromisoformat(data["start"]).timestamp()),
        int(datetime.fromisoformat(data["end"]).timestamp()),
    )


def _dt(seconds: int | None) -> Any:
    return None if seconds is None else utc(seconds)


def _ts(value: Any) -> int | None:
    return None if value is None else int(value)
