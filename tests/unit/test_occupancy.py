"""The occupancy timeline of a busy venue's day (counts of people present per slot)."""

from __future__ import annotations

import pytest

from services.alerts.domain.occupancy import DAY_S, InvalidSlotError, Presence, occupancy

MIDNIGHT = 1_764_892_800  # 2025-12-05 00:00 UTC


def test_a_visit_counts_in_every_slot_it_touches_and_a_person_once_per_slot() -> None:
    slots = occupancy([Presence("a", MIDNIGHT + 800, MIDNIGHT + 1900),
                       Presence("a", MIDNIGHT + 850, MIDNIGHT + 860),
                       Presence("b", MIDNIGHT + 1800, MIDNIGHT + 1800)], MIDNIGHT)
    assert slots[:4] == [1, 1, 2, 0] and sum(slots) == 4


def test_visits_across_midnight_count_on_the_day_only_within_it() -> None:
    slots = occupancy([Presence("a", MIDNIGHT - 3600, MIDNIGHT + 10),
                       Presence("b", MIDNIGHT + DAY_S - 1, MIDNIGHT + DAY_S + 3600),
                       Presence("c", MIDNIGHT + DAY_S, MIDNIGHT + DAY_S + 60)], MIDNIGHT)
    assert slots[0] == 1 and slots[-1] == 1 and sum(slots) == 2


def test_a_slot_that_does_not_divide_the_day_is_refused() -> None:
    with pytest.raises(InvalidSlotError):
        occupancy([], MIDNIGHT, slot_s=7 * 60)
