"""How much risk an alert carries (``risk_score``, ``risk_level``): who tracers call first.

The score is Corona-Warn-App's presence-tracing measure: minutes of exposure, each weighted by
the transmission risk of the case on the day it falls on, summed over the alert's exposures.
Days are counted from the case's onset (``onset_at``, else ``sampled_at``) in whole 24 h:
day 0 is the 24 h from onset, day -2 the 24 h that begin 48 h before it (where the infectious
window begins); an exposure across a day boundary weighs each part by its own day.

- Each exposure counts only inside the case's infectious window (rule 5): an F2's contact that
  runs past the case's isolation counts up to it.
- A day the weights do not list takes the weight of the nearest day they do.
- A venue exposure event has no onset: its presence minutes weigh 1.0 each.
- The score is rounded to hundredths, so it is stored, compared and paged exactly.

The default weights are Corona-Warn-App's transmission risk values (risk level 3 → 0.6, 5 → 1.0,
8 → 1.6), highest on the days around onset; its high-risk bar is a weighted total of 10.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType

from services.alerts.domain.errors import DomainError
from services.alerts.domain.model import Alert, Case

DAY_S = 86_400

DEFAULT_DAY_WEIGHTS: Mapping[int, float] = MappingProxyType({
    -2: 1.0, -1: 1.4, 0: 1.6, 1: 1.6, 2: 1.4, 3: 1.2, 4: 1.0, 5: 0.8, 6: 0.6,
})
"""Days since onset → transmission risk weight (Corona-Warn-App's values 0.6-1.6)."""

DEFAULT_MEDIUM_AT = 5.0
DEFAULT_HIGH_AT = 10.0


class InvalidRiskWeightsError(DomainError):
    """The risk weights or thresholds cannot rank anyone (empty, negative, inverted)."""


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True, slots=True)
class RiskWeights:
    """The weights by day since onset and the score at which medium and high begin.

    Example:
        >>> w = RiskWeights({0: 1.5, 3: 0.5}, medium_at=5, high_at=10)
        >>> w.weight_on(-4), w.weight_on(1), w.weight_on(2), w.weight_on(9)
        (1.5, 1.5, 0.5, 0.5)
        >>> w.level_of(4.99), w.level_of(5), w.level_of(10)
        (<RiskLevel.LOW: 'low'>, <RiskLevel.MEDIUM: 'medium'>, <RiskLevel.HIGH: 'high'>)
    """

    day_weights: Mapping[int, float] = field(default_factory=lambda: DEFAULT_DAY_WEIGHTS)
    medium_at: float = DEFAULT_MEDIUM_AT
    high_at: float = DEFAULT_HIGH_AT

    def __post_init__(self) -> None:
        if not self.day_weights:
            raise InvalidRiskWeightsError("risk weights need at least one day")
        bad = {d: w for d, w in self.day_weights.items() if not (w >= 0 and math.isfinite(w))}
        if bad:
            raise InvalidRiskWeightsError(f"risk weights must be finite and >= 0, got {bad}")
        if not 0 <= self.medium_at <= self.high_at:
            raise InvalidRiskWeightsError(
                f"risk thresholds need 0 <= medium_at <= high_at, got {self.medium_at} and "
                f"{self.high_at}")
        object.__setattr__(self, "day_weights", MappingProxyType(dict(self.day_weights)))

    def weight_on(self, day: int) -> float:
        """The weight of ``day`` since onset; a day not listed takes its nearest listed day's
        (the earlier one on a tie)."""
        found = self.day_weights.get(day)
        if found is not None:
            return found
        nearest = min(self.day_weights, key=lambda d: (abs(d - day), d))
        return self.day_weights[nearest]

    def level_of(self, score: float) -> RiskLevel:
        if score >= self.high_at:
            return RiskLevel.HIGH
        if score >= self.medium_at:
            return RiskLevel.MEDIUM
        return RiskLevel.LOW


DEFAULT_RISK = RiskWeights()


def weighted_minutes(intervals: Iterable[tuple[int, int]], reference: int | None,
                     within: tuple[int, int], weights: RiskWeights) -> float:
    """Σ minutes of each ``[start, end]`` inside ``within``, each minute weighted by its day
    since ``reference`` (1.0 without a reference), to hundredths.

    Example:
        >>> h = 3600
        >>> weighted_minutes([(10 * h, 11 * h)], 0, (0, 100 * h), RiskWeights({0: 0.5}))
        30.0
        >>> weighted_minutes([(10 * h, 11 * h)], None, (10 * h + 1800, 100 * h), DEFAULT_RISK)
        30.0
        >>> weighted_minutes([(23 * h, 25 * h)], 0, (0, 100 * h), RiskWeights({0: 1, 1: 2}))
        180.0
    """
    total = 0.0
    low, high = within
    for start, end in intervals:
        start, end = max(start, low), min(end, high)
        if reference is None:
            total += max(0, end - start) / 60
            continue
        while start < end:
            day = (start - reference) // DAY_S
            part_end = min(end, reference + (day + 1) * DAY_S)
            total += (part_end - start) / 60 * weights.weight_on(day)
            start = part_end
    return round(total, 2)


def case_risk(alert: Alert, case: Case, weights: RiskWeights = DEFAULT_RISK) -> Alert:
    """``alert`` of ``case`` with its risk score and level.

    Example:
        >>> from services.alerts.domain.model import Exposure, alert_id_for
        >>> h = 3600
        >>> case = Case(case_id="c1", person="ann", onset_at=100 * h, reported_at=101 * h)
        >>> bob = Alert(alert_id_for("c1", "bob"), "c1", "bob", 1, 90 * h, None, ("cafe",),
        ...             (Exposure("k1", "cafe", "ann", 90 * h, 90 * h + 900),))
        >>> scored = case_risk(bob, case)  # 15 min on day -1 (weight 1.4)
        >>> scored.risk_score, scored.risk_level
        (21.0, 'high')
    """
    window = case.window
    reference = case.onset_at if case.onset_at is not None else case.sampled_at
    score = weighted_minutes(((e.start, e.end) for e in alert.exposures), reference,
                             (window.start, window.end), weights)
    return replace(alert, risk_score=score, risk_level=weights.level_of(score).value)


def scored(alerts: Iterable[Alert], case: Case, weights: RiskWeights = DEFAULT_RISK) -> list[Alert]:
    """Every alert of ``case`` with its risk."""
    return [case_risk(alert, case, weights) for alert in alerts]
