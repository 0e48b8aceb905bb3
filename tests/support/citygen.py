"""Generated venue days for pipeline tests: messy on purpose.

Missing check-outs and check-ins, scanners that send a scan twice, double taps, visits over
midnight, and an arrival schedule where some gates upload hours late and out of order.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from services.tracer.domain.model import Scan


def person_ref(i: int) -> str:
    return hashlib.sha256(f"person-{i}".encode()).hexdigest()


@dataclass(frozen=True)
class GeneratedDay:
    scans: list[Scan]  # every scan, duplicates included, as sent
    waves: list[list[list[Scan]]]  # arrival: waves of messages (one venue each)


def messy_day(
    seed: int, *, venues: list[str], people: int, start: int, hours: int = 30
) -> GeneratedDay:
    rng = random.Random(seed)
    weights = [1.0 / (rank + 1) for rank in range(len(venues))]  # a few busy, most quiet
    scans: list[Scan] = []
    serial = 0

    def new_scan(venue: str, person: str, direction: str, at: int) -> Scan:
        nonlocal serial
        serial += 1
        return Scan(f"ev-{seed}-{serial}", venue, person, direction, at)  # type: ignore[arg-type]

    for p in range(people):
        person = person_ref(p)
        for _ in range(rng.randint(1, 4)):
            venue = rng.choices(venues, weights)[0]
            begin = start + rng.randrange(0, hours * 3600)
            dwell = rng.choice([5, 20, 45, 90, 180, 600]) * 60 + rng.randrange(0, 600)
            roll = rng.random()
            if roll < 0.15:
                visit = [new_scan(venue, person, "in", begin)]  # forgot to check out
            elif roll < 0.25:
                visit = [new_scan(venue, person, "out", begin + dwell)]  # forgot to check in
            else:
                visit = [
                    new_scan(venue, person, "in", begin),
                    new_scan(venue, person, "out", begin + dwell),
                ]
            if rng.random() < 0.08:
                visit.append(new_scan(venue, person, "in", begin + rng.randrange(0, 60)))
            scans.extend(visit)
    # Re-deliveries of the same event (same event_id).
    scans.extend(rng.sample(scans, k=max(1, len(scans) // 20)))

    on_time: list[Scan] = []
    late: list[Scan] = []
    offline_gate = set(rng.sample(venues, k=max(1, len(venues) // 3)))
    for s in scans:
        if (s.venue_id in offline_gate and rng.random() < 0.4) or (
            s.direction == "out" and rng.random() < 0.15
        ):
            late.append(s)
        else:
            on_time.append(s)
    return GeneratedDay(scans=scans, waves=[_messages(on_time, rng), _messages(late, rng)])


def _messages(scans: list[Scan], rng: random.Random, max_size: int = 40) -> list[list[Scan]]:
    """Shuffled scans cut into per-venue messages of random sizes, messages shuffled too."""
    by_venue: dict[str, list[Scan]] = {}
    for s in rng.sample(scans, k=len(scans)):
        by_venue.setdefault(s.venue_id, []).append(s)
    messages: list[list[Scan]] = []
    for venue_scans in by_venue.values():
        i = 0
        while i < len(venue_scans):
            size = rng.randint(1, max_size)
            messages.append(venue_scans[i : i + size])
            i += size
    rng.shuffle(messages)
    return messages
