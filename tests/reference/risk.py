"""Brute-force risk scores: minute by minute, as the issue states the measure.

Every minute of an alert's exposures inside the case's infectious window counts with the weight
of its day since onset (whole 24 h from ``onset_at``, else ``sampled_at``; a day not listed
takes the nearest listed day's, the earlier on a tie); the total, rounded to hundredths, is
``low`` below the medium threshold, ``high`` from the high one, ``medium`` between. The
reference walks minutes, so the times it is given are whole minutes (the tests' are).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from tests.reference.exposure import ReferenceCase, reference_window

MINUTE = 60
DAY = 86_400


def reference_weight(weights: Mapping[int, float], day: int) -> float:
    if day in weights:
        return weights[day]
    best = None
    for listed in sorted(weights):
        if best is None or abs(listed - day) < abs(best - day):
            best = listed
    assert best is not None
    return weights[best]


def reference_risk(case: ReferenceCase, exposures: Iterable[tuple[int, int]],
                   weights: Mapping[int, float], medium_at: float,
                   high_at: float) -> tuple[float, str]:
    """(score, level) of an alert of ``case`` whose exposures are these ``(start, end)``."""
    low, high = reference_window(case)
    onset = case.onset_at if case.onset_at is not None else case.sampled_at
    assert onset is not None
    total = 0.0
    for start, end in exposures:
        assert start % MINUTE == 0 and end % MINUTE == 0, "the reference walks whole minutes"
        for minute in range(start, end, MINUTE):
            if low <= minute and minute + MINUTE <= high:
                total += reference_weight(weights, (minute - onset) // DAY)
    score = round(total, 2)
    level = "high" if score >= high_at else "medium" if score >= medium_at else "low"
    return score, level
