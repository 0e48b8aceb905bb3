"""Cluster detection (rule 12) against the brute-force reference; ids kept as clusters change."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.alerts.domain.clusters import (
    DEFAULT_RULES,
    CasePresence,
    ClusterRule,
    InvalidClusterRuleError,
    carry_ids,
    detect_clusters,
)
from services.alerts.worker.clusters import venue_rule
from tests.reference.clusters import ReferencePresence, reference_clusters

D = 86_400
TIMES = st.integers(min_value=0, max_value=30 * 4).map(lambda q: q * D // 4)


@st.composite
def presences(draw: st.DrawFn) -> list[CasePresence]:
    windows = {c: sorted((draw(TIMES), draw(TIMES))) for c in ("c1", "c2", "c3", "c4")}
    found = []
    for i in range(draw(st.integers(min_value=0, max_value=14))):
        case = draw(st.sampled_from(sorted(windows)))
        start = draw(TIMES)
        end = start + draw(st.sampled_from([0, 600, 3600, D]))
        found.append(CasePresence(case, draw(st.sampled_from(["bar", "bar", "gym"])), f"v{i}",
                                  start, end, *windows[case]))
    return found


@settings(max_examples=150, deadline=None)
@given(given=presences(), min_cases=st.integers(min_value=2, max_value=3),
       window_days=st.integers(min_value=1, max_value=8),
       min_presence_s=st.sampled_from([0, 1800]))
def test_clusters_equal_the_brute_force(given: list[CasePresence], min_cases: int,
                                        window_days: int, min_presence_s: int) -> None:
    rule = ClusterRule(min_cases, window_days, min_presence_s)
    found = detect_clusters(given, lambda venue: rule)
    expected = reference_clusters(
        [ReferencePresence(p.case_id, p.venue_id, p.visit_id, p.start, p.end, p.window_start,
                           p.window_end) for p in given], min_cases, rule.window_s, min_presence_s)
    assert {(c.venue_id, c.start, c.end, c.case_ids, c.visit_ids) for c in found} == expected
    assert len({c.cluster_id for c in found}) == len(found)


@settings(max_examples=100, deadline=None)
@given(given=presences(), gym=st.tuples(st.integers(min_value=2, max_value=3),
                                        st.integers(min_value=1, max_value=8),
                                        st.sampled_from([0, 1800])))
def test_a_venues_own_rule_overrides_its_kinds_as_the_brute_force_does(
        given: list[CasePresence], gym: tuple[int, int, int]) -> None:
    kind_default, own = DEFAULT_RULES["restaurant"], ClusterRule(*gym)
    found = detect_clusters(given, lambda venue: own if venue == "gym" else kind_default)
    expected = reference_clusters(
        [ReferencePresence(p.case_id, p.venue_id, p.visit_id, p.start, p.end, p.window_start,
                           p.window_end) for p in given], kind_default.min_cases,
        kind_default.window_s, kind_default.min_presence_s,
        per_venue={"gym": (own.min_cases, own.window_s, own.min_presence_s)})
    assert {(c.venue_id, c.start, c.end, c.case_ids, c.visit_ids) for c in found} == expected


def test_a_venue_with_its_own_rule_clusters_where_its_kind_would_not() -> None:
    def at(case: str, venue: str, day: int) -> CasePresence:
        return CasePresence(case, venue, f"{venue}-{case}", day * D, day * D + 3600, 0, 60 * D)

    two_each = [at(c, v, d) for v in ("bar", "gym") for c, d in (("c1", 1), ("c2", 2))]
    rules = {"gym": venue_rule("restaurant", ClusterRule(2, 7))}
    found = detect_clusters(two_each, lambda v: rules.get(v, venue_rule("restaurant", None)))
    assert [(c.venue_id, c.case_ids) for c in found] == [("gym", ("c1", "c2"))]


def test_a_cluster_keeps_its_id_as_it_grows_and_dissolves_when_a_case_is_withdrawn() -> None:
    rule = ClusterRule(3, 7)

    def at(case: str, visit: str, day: int) -> CasePresence:
        return CasePresence(case, "bar", visit, day * D, day * D + 3600, 0, 60 * D)

    first = detect_clusters([at("c1", "v1", 1), at("c2", "v2", 2), at("c3", "v3", 3)],
                            lambda v: rule)
    grown = carry_ids(first, detect_clusters(
        [at("c1", "v1", 1), at("c2", "v2", 2), at("c3", "v3", 3), at("c4", "v4", 0)],
        lambda v: rule))
    assert [c.cluster_id for c in grown] == [first[0].cluster_id]
    assert grown[0].case_ids == ("c1", "c2", "c3", "c4") and grown[0].start == 0
    withdrawn = detect_clusters([at("c1", "v1", 1), at("c2", "v2", 2)], lambda v: rule)
    assert withdrawn == []  # c3 and c4 withdrawn: two cases are no cluster


def test_rules_are_checked_and_every_venue_kind_has_one() -> None:
    assert {"office", "school", "clinic", "restaurant", "market", "factory", "shop",
            "other"} <= set(DEFAULT_RULES)
    with pytest.raises(InvalidClusterRuleError, match="min_cases"):
        ClusterRule(1, 7)
    with pytest.raises(InvalidClusterRuleError, match="window_days"):
        ClusterRule(3, 0)
