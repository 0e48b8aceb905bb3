"""Rules 1-2: de-duplication by event id and pairing one person's scans into visits."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.tracer.domain.errors import InvalidRulesError, InvalidScanError
from services.tracer.domain.model import Scan, VenueRules, Visit
from services.tracer.domain.visits import build_visits, dedup_by_event_id
from tests.reference.tracing import reference_scans, reference_visits

RULES = VenueRules(default_dwell=3_600, max_dwell=43_200, min_overlap=900)
MIDNIGHT = 1_700_006_400  # 2023-11-15T00:00:00Z
T0 = MIDNIGHT + 9 * 3_600


def scan(event_id: str, direction: str, at: int, person: str = "ann", venue: str = "cafe") -> Scan:
    return Scan(event_id, venue, person, direction, at)  # type: ignore[arg-type]


def spans(scans: list[Scan], rules: VenueRules = RULES) -> list[tuple[int, int]]:
    return [(v.start - T0, v.end - T0) for v in build_visits(scans, rules)]


def test_an_in_and_the_next_out_make_one_visit() -> None:
    assert spans([scan("e1", "in", T0), scan("e2", "out", T0 + 1_200)]) == [(0, 1_200)]


def test_an_in_without_out_lasts_default_dwell() -> None:
    assert spans([scan("e1", "in", T0)]) == [(0, 3_600)]


def test_an_out_without_in_reaches_back_default_dwell() -> None:
    assert spans([scan("e1", "out", T0)]) == [(-3_600, 0)]


def test_the_next_in_closes_an_open_visit_when_sooner_than_default_dwell() -> None:
    assert spans([scan("e1", "in", T0), scan("e2", "in", T0 + 600)]) == [
        (0, 600),
        (600, 4_200),
    ]


def test_a_next_in_after_default_dwell_leaves_the_dwell_visit_alone() -> None:
    assert spans([scan("e1", "in", T0), scan("e2", "in", T0 + 5_000)]) == [
        (0, 3_600),
        (5_000, 8_600),
    ]


def test_an_out_closes_the_in_right_before_it_even_after_default_dwell() -> None:
    assert spans([scan("e1", "in", T0), scan("e2", "out", T0 + 3 * 3_600)]) == [(0, 10_800)]


def test_a_visit_longer_than_max_dwell_is_clipped() -> None:
    rules = VenueRules(default_dwell=3_600, max_dwell=7_200)
    assert spans([scan("e1", "in", T0), scan("e2", "out", T0 + 20_000)], rules) == [(0, 7_200)]


def test_default_dwell_longer_than_max_dwell_is_clipped_too() -> None:
    rules = VenueRules(default_dwell=7_200, max_dwell=3_000)
    assert spans([scan("e1", "in", T0)], rules) == [(0, 3_000)]
    assert spans([scan("e1", "out", T0)], rules) == [(-7_200, -4_200)]


def test_an_out_after_a_closed_visit_makes_its_own_visit() -> None:
    scans = [scan("e1", "in", T0), scan("e2", "out", T0 + 600), scan("e3", "out", T0 + 1_800)]
    assert spans(scans) == [(-1_800, 1_800), (0, 600)]


def test_same_second_out_then_in_reads_as_leaving_and_coming_back() -> None:
    scans = [scan("e1", "in", T0), scan("e2", "in", T0 + 900), scan("e3", "out", T0 + 900)]
    assert spans(scans) == [(0, 900), (900, 4_500)]


def test_a_double_scan_at_the_same_second_is_one_scan() -> None:
    twice_in = [scan("e1", "in", T0), scan("e2", "in", T0)]
    assert spans(twice_in) == [(0, 3_600)]
    twice_out = [scan("e1", "in", T0 - 600), scan("e2", "out", T0), scan("e3", "out", T0)]
    assert spans(twice_out) == [(-600, 0)]


def test_clipping_that_makes_two_equal_visits_keeps_one() -> None:
    rules = VenueRules(default_dwell=7_200, max_dwell=600)
    scans = [scan("e1", "in", T0 - 7_200), scan("e2", "out", T0 - 3_600), scan("e3", "out", T0)]
    assert spans(scans, rules) == [(-7_200, -6_600)]


def test_the_same_event_id_counts_once() -> None:
    once = [scan("e1", "out", T0)]
    assert spans(once * 3) == spans(once)


def test_differing_copies_of_an_event_id_keep_the_first_in_scan_order() -> None:
    early_out = scan("e1", "out", T0)
    late_in = scan("e1", "in", T0 + 60)
    same_time_in = scan("e1", "in", T0)
    for arrival in ([early_out, late_in, same_time_in], [same_time_in, late_in, early_out]):
        assert dedup_by_event_id(arrival) == [early_out]


def test_event_ids_are_scoped_by_venue() -> None:
    here, there = scan("e1", "in", T0, venue="cafe"), scan("e1", "in", T0, venue="shop")
    assert len(dedup_by_event_id([here, there])) == 2


def test_a_visit_across_midnight_stays_one_visit() -> None:
    scans = [scan("e1", "in", MIDNIGHT - 1_800), scan("e2", "out", MIDNIGHT + 2_700)]
    assert build_visits(scans, RULES) == [Visit("cafe", "ann", MIDNIGHT - 1_800, MIDNIGHT + 2_700)]


def test_build_visits_refuses_scans_of_two_people() -> None:
    with pytest.raises(InvalidScanError, match="one \\(venue, person\\)"):
        build_visits([scan("e1", "in", T0), scan("e2", "in", T0, person="bob")], RULES)


def test_an_unknown_direction_is_refused() -> None:
    with pytest.raises(InvalidScanError, match="direction 'sideways'"):
        build_visits([scan("e1", "sideways", T0)], RULES)


@pytest.mark.parametrize(
    "fields",
    [{"default_dwell": 0}, {"max_dwell": -1}, {"min_overlap": -1}, {"min_overlap": 1.5}],
)
def test_rules_refuse_meaningless_durations(fields: dict[str, object]) -> None:
    with pytest.raises(InvalidRulesError):
        VenueRules(**fields)  # type: ignore[arg-type]


def test_visit_ids_depend_on_content_only() -> None:
    visit = Visit("cafe", "ann", T0, T0 + 60)
    assert visit.visit_id == Visit("cafe", "ann", T0, T0 + 60).visit_id
    others = [visit._replace(end=T0 + 61), visit._replace(person="bob")]
    assert visit.visit_id not in {other.visit_id for other in others}


one_person_scans = st.lists(
    st.builds(
        scan,
        st.sampled_from([f"e{i}" for i in range(12)]),
        st.sampled_from(["in", "out"]),
        st.integers(T0, T0 + 6 * 3_600).map(lambda at: at - at % 300),
    ),
    max_size=14,
)
rules_strategy = st.builds(
    VenueRules,
    st.sampled_from([600, 1_800, 3_600]),
    st.sampled_from([900, 2_700, 43_200]),
    st.just(900),
)


@settings(max_examples=200, deadline=None)
@given(scans=one_person_scans, rules=rules_strategy)
def test_build_visits_matches_the_reference(scans: list[Scan], rules: VenueRules) -> None:
    assert build_visits(scans, rules) == sorted(reference_visits(scans, {"cafe": rules}))


@settings(max_examples=100, deadline=None)
@given(scans=one_person_scans, data=st.data())
def test_dedup_is_independent_of_arrival_order(scans: list[Scan], data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(scans))
    assert sorted(dedup_by_event_id(shuffled), key=str) == sorted(reference_scans(scans), key=str)
