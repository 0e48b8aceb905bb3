"""The tracer's reads of the system of record: a venue's stored history, for late scans.

ClickHouse holds every scan the tracer processed and every visit it derived (the sink writes
them before the group commits), so a scan older than the hot window is traced against what is
read here. Visits are read without ``FINAL``: every version of a visit has the same content, so
``GROUP BY`` + ``argMax`` by version keeps its newest (a retraction wins over the row it
retracts), which on ClickHouse 18.16 reads much faster than merging every part. ``day`` prunes
partitions.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import date

from clickhouse_driver import Client

from schemas.venues import MAX_DWELL_LIMIT_S
from services.core.clickhouse import clickhouse_client, utc, utc_day
from services.core.config import Settings
from services.tracer.domain.model import Scan
from services.tracer.domain.overlap import IndexedVisit

# A person's scans at a venue, and those of whoever holds one of the batch's event ids (rule 1
# may then move that scan from them). Copies of one event are all returned: the domain picks.
PEOPLE_SCANS = """
SELECT event_id, person_id, toString(direction), toUInt32(scanned_at)
FROM scans
WHERE venue_id = %(venue)s AND day >= %(since_day)s
  AND person_id IN (
      SELECT person_id FROM scans
      WHERE venue_id = %(venue)s AND day >= %(since_day)s
        AND (person_id IN %(people)s OR event_id IN %(events)s))
"""

VISITS_OVERLAPPING = """
SELECT person_id, toUInt32(any(started_at)), toUInt32(any(ended_at))
FROM visits
WHERE venue_id = %(venue)s
  AND day >= %(earliest_day)s AND day <= %(end_day)s
  AND started_at >= %(earliest)s AND started_at <= %(end)s AND ended_at >= %(start)s
GROUP BY visit_id, person_id
HAVING argMax(deleted, version) = 0
"""

# The newest stored scan of each (venue, person) before a time: the `in`, if it is one, of an
# `out` that a restored state holds first.
LATEST_BEFORE = """
SELECT venue_id, person_id, argMax(event_id, (scanned_at, direction = 'in')),
       argMax(toString(direction), (scanned_at, direction = 'in')), toUInt32(max(scanned_at))
FROM scans
WHERE day >= %(since_day)s AND (venue_id, person_id) IN %(pairs)s
  AND toUInt32(scanned_at) < transform(concat(venue_id, '\x1f', person_id), %(keys)s, %(until)s,
                                       toUInt32(0))
GROUP BY venue_id, person_id
"""


class ClickHouseHistory:
    """Reads of one worker, over a client of their own (made on first use)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Client | None = None

    def _connected(self) -> Client:
        if self._client is None:
            self._client = clickhouse_client(self._settings)
        return self._client

    def _since_day(self) -> date:
        return utc_day(int(time.time()) - self._settings.retention_s - MAX_DWELL_LIMIT_S)

    def people_scans(self, venue_id: str, people: Sequence[str],
                     event_ids: Sequence[str]) -> list[Scan]:
        rows = self._connected().execute(PEOPLE_SCANS, {
            "venue": venue_id, "since_day": self._since_day(),
            "people": tuple(people) or ("",), "events": tuple(event_ids) or ("",),
        })
        return [Scan(event_id, venue_id, person, direction, at)
                for event_id, person, direction, at in rows]

    def visits_overlapping(self, venue_id: str, start: int, end: int) -> list[IndexedVisit]:
        earliest = start - MAX_DWELL_LIMIT_S
        rows = self._connected().execute(VISITS_OVERLAPPING, {
            "venue": venue_id, "earliest_day": utc_day(max(0, earliest)),
            "end_day": utc_day(end), "earliest": utc(max(0, earliest)), "start": utc(start),
            "end": utc(end),
        })
        return [(s, e, person) for person, s, e in rows]

    def latest_before(self, firsts: Sequence[tuple[str, str, int]]) -> list[Scan]:
        """For each ``(venue_id, person, at)``, their newest stored scan at the venue before
        ``at``, in scan order at equal times (an ``in`` after an ``out``)."""
        if not firsts:
            return []
        until = {(venue, person): at for venue, person, at in firsts}
        rows = self._connected().execute(LATEST_BEFORE, {
            "since_day": self._since_day(), "pairs": tuple(until),
            "keys": [f"{venue}\x1f{person}" for venue, person in until],
            "until": list(until.values()),
        })
        return [Scan(event_id, venue, person, direction, at)
                for venue, person, event_id, direction, at in rows]

    def close(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client = None
