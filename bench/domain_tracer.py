"""Micro-benchmark of the tracer's pure domain: scans/s through ``VenueState.apply``.

A synthetic city day: venues open 07:00-22:00 with a few thousand visits a day each, dwell times
around half an hour, regulars and one-off visitors, check-outs for most visits, scans delivered
in ~500-scan batches per venue, slightly out of order, some hours late (offline scanners) and a
few re-delivered. No Kafka, no JSON: this is the budget the domain leaves to the service.

    python bench/domain_tracer.py                 # defaults below
    python bench/domain_tracer.py --visits-per-day 300 --venues 40
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import random
import time
from dataclasses import dataclass

from services.tracer.domain.model import Scan, VenueRules
from services.tracer.domain.state import VenueState

DAY = 86_400
START = 1_700_006_400  # 2023-11-15T00:00:00Z


@dataclass(frozen=True)
class Workload:
    venues: int
    visits_per_day: int
    days: int
    batch: int
    out_ratio: float
    late_ratio: float
    seed: int


def pseudonym(n: int) -> str:
    return hashlib.sha256(f"person-{n}".encode()).hexdigest()


def venue_scans(workload: Workload, venue: int, rng: random.Random) -> list[tuple[int, Scan]]:
    """One venue's scans with their delivery time."""
    venue_id = f"venue-{venue:05d}"
    regulars = [pseudonym(venue * 1_000_000 + i) for i in range(max(10, workload.visits_per_day // 10))]
    delivered: list[tuple[int, Scan]] = []
    serial = 0
    for day in range(workload.days):
        opens = START + day * DAY + 7 * 3_600
        for _ in range(workload.visits_per_day):
            if rng.random() < 0.3:
                person = rng.choice(regulars)
            else:
                person = pseudonym(rng.getrandbits(48))
            arrive = opens + rng.randrange(15 * 3_600)
            dwell = int(min(4 * 3_600, max(120, rng.lognormvariate(7.5, 0.7))))  # median ~30 min
            scans = []
            if rng.random() < 0.95:
                scans.append(("in", arrive))
            if rng.random() < workload.out_ratio:
                scans.append(("out", arrive + dwell))
            for direction, at in scans:
                serial += 1
                scan = Scan(f"{venue_id}-{serial}", venue_id, person, direction, at)  # type: ignore[arg-type]
                late = rng.randrange(2 * 3_600) if rng.random() < workload.late_ratio else rng.randrange(60)
                delivered.append((at + late, scan))
                if rng.random() < 0.01:  # re-delivered after a producer retry
                    delivered.append((at + late + rng.randrange(600), scan))
    delivered.sort(key=lambda item: item[0])
    return delivered


def batches_of(workload: Workload) -> list[tuple[int, list[Scan]]]:
    """(venue, batch) in delivery order across venues."""
    rng = random.Random(workload.seed)
    timed: list[tuple[int, int, list[Scan]]] = []
    for venue in range(workload.venues):
        delivered = venue_scans(workload, venue, rng)
        for i in range(0, len(delivered), workload.batch):
            chunk = delivered[i : i + workload.batch]
            timed.append((chunk[-1][0], venue, [scan for _, scan in chunk]))
    timed.sort(key=lambda item: (item[0], item[1]))
    return [(venue, batch) for _, venue, batch in timed]


def run(workload: Workload) -> None:
    batches = batches_of(workload)
    scans = sum(len(batch) for _, batch in batches)
    rules = VenueRules()
    states = [VenueState(f"venue-{venue:05d}") for venue in range(workload.venues)]
    added = removed = visits = 0
    gc.collect()
    import os
    if os.environ.get("NOGC"): gc.disable()
    began = time.perf_counter()
    for venue, batch in batches:
        delta = states[venue].apply(batch, rules)
        added += len(delta.contacts_added)
        removed += len(delta.contacts_removed)
        visits += len(delta.visits_added) + len(delta.visits_removed)
    elapsed = time.perf_counter() - began
    held_visits = sum(len(state.visits()) for state in states)
    print(
        f"{workload.venues} venue(s) x {workload.visits_per_day} visits/day x {workload.days} day(s),"
        f" batches of {workload.batch}: {scans:,} scans in {elapsed:.2f} s"
        f" = {scans / elapsed:,.0f} scans/s"
    )
    print(
        f"  visit changes {visits:,}, contacts +{added:,} -{removed:,}"
        f" ({(added + removed) / scans:.1f} contact changes/scan,"
        f" {(added + removed) / elapsed:,.0f}/s); {held_visits:,} visits held"
    )
    began = time.perf_counter()
    snapshots = [state.to_snapshot() for state in states]
    restored = [VenueState.from_snapshot(snapshot) for snapshot in snapshots]
    print(
        f"  snapshot + restore of all venues: {time.perf_counter() - began:.2f} s"
        f" ({sum(r.scan_count for r in restored):,} scans)"
    )
    began = time.perf_counter()
    forgotten = sum(state.forget_before(START + DAY) for state in states)
    print(f"  forget_before(day 2): {forgotten:,} scans in {time.perf_counter() - began:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--venues", type=int, default=4)
    parser.add_argument("--visits-per-day", type=int, default=3_000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--out-ratio", type=float, default=0.6, help="visits with a check-out")
    parser.add_argument("--late-ratio", type=float, default=0.05, help="scans up to 2 h late")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    run(
        Workload(
            venues=args.venues,
            visits_per_day=args.visits_per_day,
            days=args.days,
            batch=args.batch,
            out_ratio=args.out_ratio,
            late_ratio=args.late_ratio,
            seed=args.seed,
        )
    )


if __name__ == "__main__":
    main()
