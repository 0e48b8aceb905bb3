"""The alerts worker's read of a person's contacts is two primary-key range reads on 18.16."""

from __future__ import annotations

from datetime import UTC, datetime

from services.alerts.worker.store import EDGES, VISITED, edge_params, visited_params
from services.core.clickhouse import clickhouse_client
from services.core.config import Settings

VENUES, PEOPLE, VISITS = 2_000, 100_000, 1_000_000
DAY = int(datetime(2026, 11, 20, tzinfo=UTC).timestamp())
# Person n visits venue n % VENUES ten times that day, an hour each, and meets the next visitor
# of the venue in each visit: a million visits and as many contacts at 2,000 venues.
_VISITS = f"""
INSERT INTO visits
SELECT toDate(start), concat('v', toString(n % {VENUES})), concat('p', toString(n)),
       start, start + 3600, concat('visit', toString(number)), 0, 1
FROM (SELECT number, number % {PEOPLE} AS n,
             toDateTime({DAY} + (intDiv(number, {PEOPLE}) * 3600), 'UTC') AS start
      FROM system.numbers LIMIT {VISITS})
"""
_CONTACTS = f"""
INSERT INTO contacts
SELECT toDate(start), concat('v', toString(n % {VENUES})), start, start + 3600,
       concat('k', toString(number)), concat('p', toString(n)),
       concat('p', toString((n + {VENUES}) % {PEOPLE})), 0, 1
FROM (SELECT number, number % {PEOPLE} AS n,
             toDateTime({DAY} + (intDiv(number, {PEOPLE}) * 3600), 'UTC') AS start
      FROM system.numbers LIMIT {VISITS})
"""


def test_a_persons_contacts_are_read_by_key_not_by_scanning(settings: Settings) -> None:
    client = clickhouse_client(settings)
    try:
        client.execute(_VISITS)
        client.execute(_CONTACTS)
        stored = client.execute("SELECT count() FROM visits_by_person")[0][0]
        assert stored == VISITS  # the materialized view copied every visit

        persons = {"p77", "p1234"}
        visited = client.execute(VISITED, visited_params(persons, DAY, DAY + 86_400))
        read = client.last_query.progress.rows
        assert sorted(visited) == [("v1234", DAY), ("v77", DAY)]
        rows = client.execute(EDGES, edge_params(persons, visited, DAY, DAY + 86_400))
        read += client.last_query.progress.rows
    finally:
        client.disconnect()
    # Each person is in 10 contacts of their own and 10 of the visitor before them.
    assert len(rows) == 40
    assert {r[2] for r in rows} | {r[3] for r in rows} >= persons
    # Both tables hold 2 million rows between them; the read touches a few index granules
    # (8,192 rows) of each: the two people's visits, then their two venues' contacts.
    assert read < 2 * VISITS // 20, f"read {read:,} rows"
