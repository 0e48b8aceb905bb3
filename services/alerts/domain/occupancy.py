"""A venue's occupancy timeline of a day: how many distinct people were present in each slot
(15 minutes by default), for a venue too busy for its contact graph to be read. Counts only."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

DAY_S = 86_400
SLOT_S = 900


class InvalidSlotError(ValueError):
    """A slot length that does not divide the day into whole slots."""


@dataclass(frozen=True, slots=True)
class Presence:
    """One visit: who (any stable id), from ``start`` to ``end`` (epoch seconds, closed)."""

    person: str
    start: int
    end: int


def occupancy(visits: Iterable[Presence], day_start: int, slot_s: int = SLOT_S) -> list[int]:
    """Distinct people present in each slot ``[s, s + slot_s)`` of the day from ``day_start``;
    a visit counts in every slot it touches (a person twice in a slot counts once).

    Example:
        >>> at = 1_700_006_400  # a midnight (UTC)
        >>> slots = occupancy([Presence("ann", at, at + 1_200), Presence("bob", at + 900, at + 900),
        ...                    Presence("ann", at + 600, at + 700)], at)
        >>> len(slots), slots[:3]
        (96, [1, 2, 0])
    """
    if slot_s <= 0 or DAY_S % slot_s:
        raise InvalidSlotError(f"a slot of {slot_s} s does not divide a day")
    slots = DAY_S // slot_s
    present: list[set[str]] = [set() for _ in range(slots)]
    for v in visits:
        if v.end < day_start or v.start >= day_start + DAY_S or v.end < v.start:
            continue
        first = max(0, (v.start - day_start) // slot_s)
        last = min(slots - 1, (v.end - day_start) // slot_s)
        for slot in range(first, last + 1):
            present[slot].add(v.person)
    return [len(people) for people in present]
