"""Micro-benchmark of the tracer's pure domain: scans/s through ``VenueState.apply``.

Synthetic venues open 07:00-22:00: dwell times around half an hour, 30 % of visits by regulars,
95 % of visits scanned in and 60 % scanned out, scans a few seconds late and 5 % up to 2 h late
(offline scanners), 1 % re-delivered. Each venue's gateway uploads a batch every ``window``
seconds (at most ``batch`` scans). No Kafka, no JSON: this is the budget the domain leaves to the
service. The work is bound by the contact edges the rules produce (every pair of visitors who
overlap 15 min is an edge), so each line also prints contact changes per scan.

    python -m bench.domain_tracer                   # the preset scenarios
    python -m bench.domain_tracer --venues 40 --visits-per-day 300 --window 300
    python -m bench.domain_tracer --city 200000     # bench.common's synthetic city day

Times are CPU seconds of this process (``time.process_time``), so that other work on the machine
does not blur them; the garbage collector runs as it would in the service.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from services.tracer.domain.model import Scan, VenueRules
from services.tracer.domain.state import VenueState

DAY = 86_400
START = 1_700_006_400  # 2023-11-15T00:00:00Z

ScanRow = tuple[str, str, str, str, int]
"""A :class:`Scan`'s fields: scans are built batch by batch, as the service decodes them."""


@dataclass(frozen=True)
class Workload:
    name: str = "custom"
    venues: int = 40
    visits_per_day: int = 300
    days: int = 3
    batch: int = 500
    window: int = DAY
    out_ratio: float = 0.6
    late_ratio: float = 0.05
    seed: int = 7


SCENARIOS = [
    Workload("busy venue, 500-scan batches", venues=1, visits_per_day=3_000, batch=500),
    Workload("shops, 500-scan batches", venues=40, visits_per_day=300, batch=500),
    Workload("shops, 5-min uploads", venues=40, visits_per_day=300, window=300),
    Workload("small venues, 500-scan batches", venues=150, visits_per_day=100),
    Workload("small venues, 1-min uploads", venues=150, visits_per_day=100, window=60),
]


def pseudonym(n: int) -> str:
    return hashlib.sha256(f"person-{n}".encode()).hexdigest()


def venue_scans(workload: Workload, venue: int, rng: random.Random) -> list[tuple[int, ScanRow]]:
    """One venue's scans with their delivery times, in delivery order."""
    venue_id = f"venue-{venue:05d}"
    regulars = [pseudonym(venue * 1_000_000 + i) for i in range(workload.visits_per_day // 10 + 10)]
    delivered: list[tuple[int, ScanRow]] = []
    serial = 0
    for day in range(workload.days):
        opens = START + day * DAY + 7 * 3_600
        for _ in range(workload.visits_per_day):
            regular = rng.random() < 0.3
            person = rng.choice(regulars) if regular else pseudonym(rng.getrandbits(48))
            arrive = opens + rng.randrange(15 * 3_600)
            dwell = int(min(4 * 3_600, max(120, rng.lognormvariate(7.5, 0.7))))  # median ~30 min
            scans = []
            if rng.random() < 0.95:
                scans.append(("in", arrive))
            if rng.random() < workload.out_ratio:
                scans.append(("out", arrive + dwell))
            for direction, at in scans:
                serial += 1
                row = (f"{venue_id}-{serial}", venue_id, person, direction, at)
                offline = rng.random() < workload.late_ratio
                late = rng.randrange(2 * 3_600) if offline else rng.randrange(30)
                delivered.append((at + late, row))
                if rng.random() < 0.01:  # re-delivered after a producer retry
                    delivered.append((at + late + rng.randrange(600), row))
    delivered.sort(key=lambda item: item[0])
    return delivered


def batches_of(workload: Workload) -> list[tuple[int, list[ScanRow]]]:
    """(venue, batch) in delivery order across venues."""
    rng = random.Random(workload.seed)
    timed: list[tuple[int, int, list[ScanRow]]] = []
    for venue in range(workload.venues):
        chunk: list[tuple[int, ScanRow]] = []
        for delivered in venue_scans(workload, venue, rng):
            full = len(chunk) == workload.batch
            if chunk and (full or delivered[0] - chunk[0][0] >= workload.window):
                timed.append((chunk[-1][0], venue, [row for _, row in chunk]))
                chunk = []
            chunk.append(delivered)
        if chunk:
            timed.append((chunk[-1][0], venue, [row for _, row in chunk]))
    timed.sort(key=lambda item: (item[0], item[1]))
    return [(venue, rows) for _, venue, rows in timed]


def run(workload: Workload) -> None:
    batches = batches_of(workload)
    rules = VenueRules()
    title = (
        f"{workload.name}: {workload.venues} venue(s) x {workload.visits_per_day} visits/day"
        f" x {workload.days} days"
    )
    measure(title, [(f"venue-{venue:05d}", rows) for venue, rows in batches], lambda _: rules)


def measure(
    title: str, batches: list[tuple[str, list[ScanRow]]], rules_for: Callable[[str], VenueRules]
) -> None:
    """Apply the batches venue by venue and print the throughput."""
    scans = sum(len(rows) for _, rows in batches)
    states: dict[str, VenueState] = {}
    added = removed = 0
    gc.collect()
    elapsed = 0.0
    for venue_id, rows in batches:
        # Built per batch, as the service decodes one message at a time: a heap full of
        # pre-built scans would make every garbage collection slower than in the service.
        batch = [Scan(*row) for row in rows]  # type: ignore[arg-type]
        state = states.get(venue_id)
        if state is None:
            state = states[venue_id] = VenueState(venue_id)
        began = time.process_time()
        delta = state.apply(batch, rules_for(venue_id))
        elapsed += time.process_time() - began
        added += len(delta.contacts_added)
        removed += len(delta.contacts_removed)
    changes = added + removed
    print(
        f"{title}, {len(batches):,} batches (~{scans / len(batches):.0f} scans)\n"
        f"  {scans:,} scans in {elapsed:.2f} s = {scans / elapsed:,.0f} scans/s; contacts"
        f" +{added:,} -{removed:,} = {changes / scans:.1f}/scan, {changes / elapsed:,.0f}/s"
    )
    began = time.process_time()
    restored: dict[str, VenueState] = {}
    for venue_id, rows in batches:  # as a worker that gains a partition reloads it
        state = restored.get(venue_id) or restored.setdefault(venue_id, VenueState(venue_id))
        state.load([Scan(*row) for row in rows], rules_for(venue_id))  # type: ignore[arg-type]
    for state in restored.values():
        state.rederive()
    restore_time = time.process_time() - began
    held = sum(state.scan_count for state in restored.values())
    cutoff = min(at for _, rows in batches for *_, at in rows) + DAY // 2
    began = time.process_time()
    forgotten = sum(state.forget_before(cutoff) for state in restored.values())
    print(
        f"  restore (load + re-derive) {held:,} scans:"
        f" {restore_time:.2f} s; forget the first half day ({forgotten:,} scans):"
        f" {time.process_time() - began:.2f} s"
    )


def run_city(scans: int) -> None:
    """The synthetic city day of the service benchmarks (``bench.common``), 1-50 scan uploads."""
    from bench.common import city_day  # the service benchmarks' city; heavy imports

    day = city_day(scans, seed=1, now=START + DAY)
    pseudonyms: dict[str, str] = {}
    batches: list[tuple[str, list[ScanRow]]] = [
        (
            venue_id,
            [
                (event_id, venue_id, pseudonyms.setdefault(person, pseudonym_of(person)), d, at)
                for event_id, person, d, at in rows
            ],
        )
        for venue_id, rows in day.batches(low=1, high=50)
    ]
    rules = {
        venue.venue_id: VenueRules(min_overlap=venue.min_overlap_s or 900) for venue in day.venues
    }
    measure(f"bench.common city day: {len(day.venues)} venues", batches, rules.__getitem__)


def pseudonym_of(person: str) -> str:
    return hashlib.sha256(person.encode()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--venues", type=int)
    parser.add_argument("--visits-per-day", type=int)
    parser.add_argument("--days", type=int)
    parser.add_argument("--batch", type=int, help="most scans in one batch")
    parser.add_argument("--window", type=int, help="seconds of one venue's scans in one batch")
    parser.add_argument("--out-ratio", type=float, help="share of visits with a check-out")
    parser.add_argument("--late-ratio", type=float, help="share of scans up to 2 h late")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--city", type=int, metavar="SCANS", help="run bench.common's city day")
    args = vars(parser.parse_args())
    city = args.pop("city")
    if city:
        run_city(city)
        return
    chosen = {name: value for name, value in args.items() if value is not None}
    for workload in [replace(Workload(), **chosen)] if chosen else SCENARIOS:
        run(workload)


if __name__ == "__main__":
    main()
