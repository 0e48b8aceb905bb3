"""Rule 3: contact edges from overlapping visits, by sweep and by index query."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.tracer.domain.model import Contact, VenueRules, Visit
from services.tracer.domain.overlap import VisitIndex, contacts_among, contacts_with
from tests.reference.tracing import reference_contacts_of_visits

MIDNIGHT = 1_700_006_400  # 2023-11-15T00:00:00Z
T0 = MIDNIGHT + 9 * 3_600


def visit(person: str, start: int, end: int, venue: str = "cafe") -> Visit:
    return Visit(venue, person, T0 + start, T0 + end)


def edges(visits: list[Visit], min_overlap: int = 900) -> list[tuple[str, str, int, int]]:
    return sorted(
        (c.person_a, c.person_b, c.start - T0, c.end - T0)
        for c in contacts_among(visits, min_overlap)
    )


def test_an_overlap_of_exactly_min_overlap_is_a_contact() -> None:
    assert edges([visit("ann", 0, 3_600), visit("bob", 2_700, 5_000)]) == [
        ("ann", "bob", 2_700, 3_600)
    ]


def test_an_overlap_one_second_short_is_not() -> None:
    assert edges([visit("ann", 0, 3_600), visit("bob", 2_701, 5_000)]) == []


def test_a_person_is_never_in_contact_with_themselves() -> None:
    assert edges([visit("ann", 0, 3_600), visit("ann", 0, 3_600 + 1), visit("ann", 60, 900)]) == []


def test_edges_name_the_smaller_person_first_and_span_the_overlap() -> None:
    assert edges([visit("zoe", 0, 7_200), visit("ann", 1_000, 2_000)]) == [
        ("ann", "zoe", 1_000, 2_000)
    ]


def test_each_overlapping_pair_of_visits_is_its_own_edge() -> None:
    visits = [visit("ann", 0, 3_600), visit("ann", 5_000, 9_000), visit("bob", 0, 9_000)]
    assert edges(visits) == [("ann", "bob", 0, 3_600), ("ann", "bob", 5_000, 9_000)]


def test_identical_edges_from_different_pairs_are_one_edge() -> None:
    visits = [visit("ann", 0, 6_000), visit("ann", 3_000, 9_000), visit("bob", 3_600, 4_800)]
    assert edges(visits) == [("ann", "bob", 3_600, 4_800)]


def test_with_zero_min_overlap_touching_visits_are_in_contact() -> None:
    assert edges([visit("ann", 0, 600), visit("bob", 600, 900)], min_overlap=0) == [
        ("ann", "bob", 600, 600)
    ]


def test_a_contact_across_midnight_is_one_edge() -> None:
    night = [
        Visit("bar", "ann", MIDNIGHT - 3_600, MIDNIGHT + 3_600),
        Visit("bar", "bob", MIDNIGHT - 600, MIDNIGHT + 1_200),
    ]
    assert contacts_among(night, 900) == {
        Contact("bar", "ann", "bob", MIDNIGHT - 600, MIDNIGHT + 1_200)
    }


def test_contacts_among_refuses_visits_of_two_venues() -> None:
    with pytest.raises(ValueError, match="one venue"):
        contacts_among([visit("ann", 0, 60), visit("bob", 0, 60, venue="shop")], 0)


def test_contacts_with_refuses_a_visit_of_another_venue() -> None:
    with pytest.raises(ValueError, match="index of 'cafe'"):
        contacts_with([visit("ann", 0, 60, venue="shop")], VisitIndex("cafe"), 0)


def test_removing_a_visit_the_index_does_not_hold_is_an_error() -> None:
    index = VisitIndex("cafe", [(0, 60, "ann")])
    with pytest.raises(KeyError):
        index.remove((0, 61, "ann"))
    index.remove((0, 60, "ann"))
    assert len(index) == 0


def test_contact_ids_depend_on_content_only() -> None:
    edge = Contact("cafe", "ann", "bob", T0, T0 + 900)
    assert edge.contact_id == Contact("cafe", "ann", "bob", T0, T0 + 900).contact_id
    assert edge.contact_id != edge._replace(start=T0 + 1).contact_id


# Durations from seconds to well past a day, so visits fall in many duration classes.
visit_lists = st.lists(
    st.builds(
        visit,
        st.sampled_from(["ann", "bob", "cy", "dan", "eve"]),
        st.integers(0, 2 * 86_400),
        st.just(0),
    ).flatmap(
        lambda v: st.integers(0, 30 * 3_600).map(lambda length: v._replace(end=v.start + length))
    ),
    max_size=30,
)
min_overlaps = st.sampled_from([0, 1, 900, 3_600])


@settings(max_examples=150, deadline=None)
@given(visits=visit_lists, min_overlap=min_overlaps)
def test_the_sweep_finds_exactly_the_all_pairs_edges(visits: list[Visit], min_overlap: int) -> None:
    rules = {"cafe": VenueRules(min_overlap=min_overlap)}
    assert contacts_among(visits, min_overlap) == reference_contacts_of_visits(visits, rules)


@settings(max_examples=150, deadline=None)
@given(visits=visit_lists, changed=visit_lists, min_overlap=min_overlaps)
def test_the_index_query_finds_exactly_the_edges_with_the_changed_visits(
    visits: list[Visit], changed: list[Visit], min_overlap: int
) -> None:
    distinct = sorted(set(visits))
    index = VisitIndex("cafe", [(v.start, v.end, v.person) for v in distinct[::2]])
    for v in distinct[1::2]:
        index.add((v.start, v.end, v.person))
    assert list(index) == sorted((v.start, v.end, v.person) for v in distinct)

    expected = set()
    for mine in changed:
        for other in distinct:
            start, end = max(mine.start, other.start), min(mine.end, other.end)
            if mine.person != other.person and end - start >= min_overlap:
                a, b = sorted((mine.person, other.person))
                expected.add(Contact("cafe", a, b, start, end))
    assert contacts_with(changed, index, min_overlap) == expected
