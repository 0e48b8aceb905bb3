"""A dense city for the alerts benchmark's realistic mode, generated inside ClickHouse.

Ten million visits and the tens of millions of contacts they make cannot go through Python in
any reasonable time (the tracer's sweep and the driver's inserts would take hours), so the
benchmark draws a compact plan here and ClickHouse expands it server-side with
``INSERT … SELECT`` (``arrayJoin`` over each group's members and their pairs).

The plan is made of *groups*: a few people (2-12) at one venue together for 20-55 minutes,
starting in the first minutes of an hour. Each (venue, day, hour) slot holds one group at most,
so visits of different groups at one venue never overlap: the contacts are exactly the pairs of
each group (rule 3; every overlap is the group's whole dwell, at least 20 minutes), and the
stored rows are what the tracer would have written for those visits. Most people visit a
venue every day or two; one in 500 is out all day (delivery riders, sellers, ~7 groups a day,
2 % of the visits): those are the cases of hundreds of F1 and thousands of F2.

The plan stays in memory as the benchmark's own reference for choosing cases and counting the
alerts to expect (:meth:`GroupCity.edges_of`, fed to the pure search).
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from clickhouse_driver import Client

from services.alerts.domain import ContactEdge

DAY = 86_400
HOURS = range(7, 21)  # a group starts in one of these UTC hours
BUSY_PER = 500  # one person in this many is out all day (persons 0 .. people / BUSY_PER)
BUSY_SHARE = 0.02  # of the visits


def person(i: int) -> str:
    """The stored pseudonym of person ``i`` (the SQL below computes the same)."""
    return hashlib.sha256(f"bench-person-{i}".encode()).hexdigest()


PERSON_SQL = "lower(hex(SHA256(concat('bench-person-', toString({})))))"


@dataclass
class GroupCity:
    venue: list[int] = field(default_factory=list)
    start: list[int] = field(default_factory=list)
    end: list[int] = field(default_factory=list)
    members: list[tuple[int, ...]] = field(default_factory=list)
    groups_of: dict[int, list[int]] = field(default_factory=dict)
    _index_of: dict[str, int] = field(default_factory=dict)

    @property
    def visits(self) -> int:
        return sum(len(m) for m in self.members)

    @property
    def contacts(self) -> int:
        return sum(len(m) * (len(m) - 1) // 2 for m in self.members)

    def persons_by_activity(self) -> list[int]:
        return sorted(self.groups_of, key=lambda p: -len(self.groups_of[p]))

    def edges_of(self, persons: set[str], since: int, until: int) -> list[ContactEdge]:
        """The contacts of ``persons`` overlapping ``[since, until]``, from the plan."""
        if not self._index_of:
            self._index_of = {person(i): i for i in self.groups_of}
        edges = []
        for p in persons:
            i = self._index_of.get(p)
            for g in self.groups_of.get(i, ()) if i is not None else ():
                if self.end[g] < since or self.start[g] > until:
                    continue
                for j in self.members[g]:
                    if j != i:
                        a, b = sorted((p, person(j)))
                        edges.append(ContactEdge(f"{g}:{a}:{b}", f"venue-{self.venue[g]}", a, b,
                                                 self.start[g], self.end[g]))
        return edges


def plan(visits: int, people: int, venues: int, days: int, end: int, seed: int) -> GroupCity:
    """Groups of people at venues over the ``days`` before ``end`` (about ``visits`` visits)."""
    rng = random.Random(seed)
    busy = max(1, people // BUSY_PER)
    slots_per_venue = days * len(HOURS)
    sizes: list[int] = []
    total = 0
    while total < visits:
        sizes.append(size := rng.randint(2, 12))
        total += size
    if len(sizes) > venues * slots_per_venue:
        raise ValueError(f"{len(sizes):,} groups do not fit in {venues:,} venues' hours")
    slots = rng.sample(range(venues * slots_per_venue), len(sizes))
    first_day = end - end % DAY - days * DAY
    city = GroupCity()
    for g, (size, slot) in enumerate(zip(sizes, slots, strict=True)):
        venue, k = divmod(slot, slots_per_venue)
        day, hour = divmod(k, len(HOURS))
        start = first_day + day * DAY + HOURS[hour] * 3600 + rng.randrange(5) * 60
        members: set[int] = set()
        while len(members) < size:
            if rng.random() < BUSY_SHARE:
                members.add(rng.randrange(busy))
            else:
                members.add(rng.randrange(busy, people))
        city.venue.append(venue)
        city.start.append(start)
        city.end.append(start + rng.randrange(20, 56) * 60)
        city.members.append(tuple(sorted(members)))
        for m in members:
            city.groups_of.setdefault(m, []).append(g)
    return city


PARTS = 8
CONTACTS_SQL = f"""
INSERT INTO contacts (day, venue_id, started_at, ended_at, contact_id, person_a, person_b,
                      deleted, version)
SELECT toDate(started_at), venue_id, started_at, ended_at,
       lower(hex(SHA256(concat(venue_id, '/', person_a, '/', person_b, '/',
                               toString(toUInt32(started_at)))))),
       person_a, person_b, 0, 1
FROM (SELECT venue_id, started_at, ended_at, person_a,
             arrayJoin(arrayFilter(x -> x > person_a, ps)) AS person_b
      FROM (SELECT venue_id, started_at, ended_at, ps, arrayJoin(ps) AS person_a
            FROM (SELECT venue_id, started_at, ended_at,
                         arrayMap(m -> {PERSON_SQL.format('m')}, members) AS ps
                  FROM bench_groups
                  WHERE modulo(g, %(parts)s) = %(part)s)))
"""


def store(client: Client, city: GroupCity, line: Callable[[str], None]) -> None:
    """Write the plan to ClickHouse and expand it there into ``visits`` and ``contacts``."""
    began = time.monotonic()
    client.execute("DROP TABLE IF EXISTS bench_groups")
    client.execute("CREATE TABLE bench_groups (g UInt32, venue_id String, started_at"
                   " DateTime('UTC'), ended_at DateTime('UTC'), members Array(UInt32))"
                   " ENGINE = Memory")
    rows = [(g, f"venue-{city.venue[g]}", city.start[g], city.end[g], list(city.members[g]))
            for g in range(len(city.members))]
    for i in range(0, len(rows), 50_000):
        client.execute("INSERT INTO bench_groups VALUES", rows[i:i + 50_000],
                       types_check=False)
    line(f"  plan of {len(rows):,} groups in ClickHouse ({time.monotonic() - began:.1f} s)")
    began = time.monotonic()
    client.execute(f"""
        INSERT INTO visits (day, venue_id, person_id, started_at, ended_at, visit_id, deleted,
                            version)
        SELECT toDate(started_at), venue_id, person_id, started_at, ended_at,
               lower(hex(SHA256(concat(venue_id, '/', person_id, '/',
                                       toString(toUInt32(started_at)))))), 0, 1
        FROM (SELECT venue_id, started_at, ended_at,
                     {PERSON_SQL.format('arrayJoin(members)')} AS person_id
              FROM bench_groups)
    """)
    line(f"  {city.visits:,} visits expanded ({time.monotonic() - began:.1f} s)")
    began = time.monotonic()
    # Each person of a group, then each later one (a lambda capturing a whole array would copy
    # it for every element), a part of the groups at a time to bound ClickHouse's memory.
    for part in range(PARTS):
        client.execute(CONTACTS_SQL, {"parts": PARTS, "part": part})
    line(f"  {city.contacts:,} contacts expanded ({time.monotonic() - began:.1f} s)")
    client.execute("DROP TABLE bench_groups")
