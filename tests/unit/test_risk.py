"""Risk per alert: the domain's weighted minutes against the minute-by-minute reference."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.alerts.domain import AlertEngine, Case, ContactEdge, InvalidCaseError, trace_case
from services.alerts.domain.risk import InvalidRiskWeightsError, RiskWeights, scored
from services.core.config import Settings
from tests.reference.exposure import ReferenceCase
from tests.reference.risk import reference_risk

H = 3600
PERSONS = [f"p{i}" for i in range(6)]
# Quarter-hour grid: exposures cross day boundaries and window edges often.
TIMES = st.integers(min_value=0, max_value=3 * 24 * 4).map(lambda q: q * 900)
# Binary fractions: the domain's sum and the reference's are then exactly equal.
WEIGHTS = st.dictionaries(st.integers(min_value=-3, max_value=6),
                          st.sampled_from([0.0, 0.25, 0.5, 1.0, 1.5, 2.0]), min_size=1)


@st.composite
def cases(draw: st.DrawFn) -> ReferenceCase:
    onset = draw(st.none() | TIMES)
    sampled = draw(TIMES) if onset is None else draw(st.none() | TIMES)
    return ReferenceCase("c", "p0", onset, sampled, draw(TIMES), draw(st.none() | TIMES))


@st.composite
def edges(draw: st.DrawFn) -> list[ContactEdge]:
    found = []
    for i in range(draw(st.integers(min_value=0, max_value=12))):
        a, b = draw(st.lists(st.sampled_from(PERSONS), min_size=2, max_size=2, unique=True))
        start, end = sorted((draw(TIMES), draw(TIMES)))
        found.append(ContactEdge(f"k{i}", "v", a, b, start, end))
    return found


@settings(max_examples=120, deadline=None)
@given(given_case=cases(), contacts=edges(), weights=WEIGHTS,
       thresholds=st.tuples(st.integers(0, 200), st.integers(0, 200)).map(sorted))
def test_risk_scores_equal_the_minute_by_minute_reference(
        given_case: ReferenceCase, contacts: list[ContactEdge], weights: dict[int, float],
        thresholds: list[int]) -> None:
    try:
        case = Case(**given_case._asdict())
    except InvalidCaseError:
        return
    risk = RiskWeights(weights, *thresholds)

    def store(persons: set[str], since: int, until: int) -> list[ContactEdge]:
        return contacts

    for alert in scored(trace_case(case, store, 3), case, risk):
        expected = reference_risk(given_case, [(e.start, e.end) for e in alert.exposures],
                                  weights, *thresholds)
        assert (alert.risk_score, alert.risk_level) == expected


def test_the_engine_publishes_alerts_with_their_risk_and_rescores_a_corrected_case() -> None:
    engine = AlertEngine(max_degree=2, retention_s=21 * 86_400)
    contacts = [ContactEdge("k1", "v", "ann", "bob", 100 * H, 100 * H + 1800)]

    def store(persons: set[str], since: int, until: int) -> list[ContactEdge]:
        return contacts

    first = engine.report(Case(case_id="c", person="ann", onset_at=100 * H, reported_at=110 * H),
                          store, now=110 * H)
    (bob, _), = first.upserts
    assert (bob.risk_score, bob.risk_level) == (48.0, "high")  # 30 min on day 0, weight 1.6
    # Onset corrected to 48 h later: the same contact is now on day -2 (weight 1.0).
    later = engine.report(Case(case_id="c", person="ann", onset_at=148 * H, reported_at=150 * H),
                          store, now=150 * H)
    (bob, _), = later.upserts
    assert (bob.risk_score, bob.risk_level) == (30.0, "high")


def test_risk_weights_come_from_the_settings_and_bad_ones_are_refused() -> None:
    configured = Settings(risk_day_weights="0:2, 1:0.5", risk_medium_at=1, risk_high_at=2)
    assert configured.risk_weights == {0: 2.0, 1: 0.5}
    assert Settings().risk_weights[0] == 1.6
    with pytest.raises(ValueError, match=r"RISK_DAY_WEIGHTS|risk_day_weights"):
        Settings(risk_day_weights="zero:1")
    with pytest.raises(ValueError, match="MEDIUM_AT"):
        Settings(risk_medium_at=20, risk_high_at=10)
    with pytest.raises(InvalidRiskWeightsError, match="at least one day"):
        RiskWeights({})
    with pytest.raises(InvalidRiskWeightsError, match=">= 0"):
        RiskWeights({0: -1.0})
