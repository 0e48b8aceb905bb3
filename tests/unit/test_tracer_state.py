"""The incremental tracer state against the brute-force reference (rules 1-4, 10)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.tracer.domain.delta import Delta
from services.tracer.domain.errors import InvalidScanError
from services.tracer.domain.model import Contact, Scan, VenueRules, Visit
from services.tracer.domain.state import HIGHEST_AT, LOWEST_AT, TracerState, VenueState
from tests.reference.tracing import reference_contacts, reference_scans, reference_visits

MIDNIGHT = 1_700_006_400  # 2023-11-15T00:00:00Z
T0 = MIDNIGHT + 9 * 3_600
RULES = VenueRules(default_dwell=3_600, max_dwell=43_200, min_overlap=900)


def scan(event_id: str, person: str, direction: str, at: int, venue: str = "cafe") -> Scan:
    return Scan(event_id, venue, person, direction, at)  # type: ignore[arg-type]


def edges(contacts: tuple[Contact, ...] | list[Contact]) -> list[tuple[str, str, int, int]]:
    return [(c.person_a, c.person_b, c.start - T0, c.end - T0) for c in contacts]


# ---------------------------------------------------------------- hand-written cases


def test_a_late_out_retracts_the_contact_made_from_the_assumed_dwell() -> None:
    state = VenueState("cafe")
    first = state.apply([scan("e1", "ann", "in", T0), scan("e2", "bob", "in", T0 + 1_800)], RULES)
    assert edges(first.contacts_added) == [("ann", "bob", 1_800, 3_600)]
    late = state.apply([scan("e3", "ann", "out", T0 + 2_400)], RULES)
    assert [(v.start - T0, v.end - T0) for v in late.visits_removed] == [(0, 3_600)]
    assert [(v.start - T0, v.end - T0) for v in late.visits_added] == [(0, 2_400)]
    assert edges(late.contacts_removed) == [("ann", "bob", 1_800, 3_600)]
    assert late.contacts_added == ()


def test_a_late_out_that_shortens_the_overlap_corrects_the_edge() -> None:
    state = VenueState("cafe")
    state.apply([scan("e1", "ann", "in", T0), scan("e2", "bob", "in", T0 + 600)], RULES)
    late = state.apply([scan("e3", "ann", "out", T0 + 2_000)], RULES)
    assert edges(late.contacts_removed) == [("ann", "bob", 600, 3_600)]
    assert edges(late.contacts_added) == [("ann", "bob", 600, 2_000)]


def test_re_delivered_scans_change_nothing() -> None:
    state = VenueState("cafe")
    batch = [scan("e1", "ann", "in", T0), scan("e2", "bob", "in", T0)]
    assert not state.apply(batch, RULES).is_empty
    assert state.apply(batch + batch, RULES).is_empty


def test_a_copy_of_an_event_id_that_comes_first_in_scan_order_replaces_the_held_one() -> None:
    state = VenueState("cafe")
    state.apply([scan("e1", "ann", "in", T0 + 600)], RULES)
    delta = state.apply([scan("e1", "bob", "in", T0)], RULES)
    assert [v.person for v in delta.visits_removed] == ["ann"]
    assert [v.person for v in delta.visits_added] == ["bob"]
    assert state.apply([scan("e1", "cy", "in", T0 + 5)], RULES).is_empty


def test_an_edge_made_by_two_pairs_survives_losing_one() -> None:
    rules = VenueRules(default_dwell=6_000, max_dwell=43_200, min_overlap=600)
    state = VenueState("cafe")
    # ann: [0, 6000] from in+out and [3000, 9000] from a lone out; bob overlaps both the same.
    first = state.apply(
        [
            scan("a1", "ann", "in", T0),
            scan("a2", "ann", "out", T0 + 6_000),
            scan("a3", "ann", "out", T0 + 9_000),
            scan("b1", "bob", "in", T0 + 3_600),
            scan("b2", "bob", "out", T0 + 4_800),
        ],
        rules,
    )
    assert edges(first.contacts_added) == [("ann", "bob", 3_600, 4_800)]
    # ann coming back at 7000 turns the lone out into the out of that in: [3000, 9000] goes.
    back = state.apply([scan("a4", "ann", "in", T0 + 7_000)], rules)
    assert [(v.start - T0, v.end - T0) for v in back.visits_removed] == [(3_000, 9_000)]
    assert back.contacts_removed == () and back.contacts_added == ()
    assert edges(state.contacts()) == [("ann", "bob", 3_600, 4_800)]


def test_a_batch_with_an_invalid_scan_changes_nothing() -> None:
    state = VenueState("cafe")
    for bad in (scan("e2", "bob", "in", T0, venue="shop"), scan("e2", "bob", "up", T0)):
        with pytest.raises(InvalidScanError):
            state.apply([scan("e1", "ann", "in", T0), bad], RULES)
        assert state.scan_count == 0 and state.visits() == []
    with pytest.raises(InvalidScanError, match="integer epoch seconds"):
        state.apply([Scan("e1", "cafe", "ann", "in", float(T0))], RULES)  # type: ignore[arg-type]


def test_a_visit_across_midnight_is_kept_whole_when_the_day_before_is_forgotten() -> None:
    state = VenueState("bar")
    night = [
        scan("e1", "ann", "in", MIDNIGHT - 1_800, venue="bar"),
        scan("e2", "ann", "out", MIDNIGHT + 2_700, venue="bar"),
        scan("e3", "bob", "in", MIDNIGHT, venue="bar"),
    ]
    delta = state.apply(night, RULES)
    assert [(c.start, c.end) for c in delta.contacts_added] == [(MIDNIGHT, MIDNIGHT + 2_700)]
    assert state.forget_before(MIDNIGHT) == 0
    assert [(v.start, v.end) for v in state.visits() if v.person == "ann"] == [
        (MIDNIGHT - 1_800, MIDNIGHT + 2_700)
    ]


def test_forgetting_drops_old_visits_silently_and_refuses_older_scans() -> None:
    state = VenueState("cafe")
    state.apply(
        [
            scan("e1", "ann", "in", T0 - 86_400),
            scan("e2", "ann", "in", T0),
            scan("e3", "bob", "out", T0 - 86_400),
        ],
        RULES,
    )
    assert state.forget_before(T0 - 3_600) == 2
    assert [(v.person, v.start) for v in state.visits()] == [("ann", T0)]
    late = state.apply([scan("e4", "bob", "in", T0 - 7_200)], RULES)
    assert [s.event_id for s in late.expired] == ["e4"] and not late.visits_added
    assert state.horizon == T0 - 3_600


def test_a_state_loaded_from_its_scans_carries_on_as_the_one_that_applied_them() -> None:
    given = [scan("e1", "ann", "in", T0), scan("e2", "bob", "out", T0 + 900),
             scan("e1", "ann", "in", T0 + 60)]
    state, loaded = VenueState("cafe"), VenueState("cafe")
    state.apply(given, RULES)
    loaded.load(given[:1], RULES)
    loaded.load(given[1:], RULES)
    loaded.rederive()
    assert loaded.visits() == state.visits() and loaded.contacts() == state.contacts() != []
    for later in ([scan("e3", "cy", "in", T0 + 300)], [scan("e4", "ann", "out", T0 + 1_200)]):
        mine, theirs = loaded.apply(later, RULES), state.apply(later, RULES)
        assert mine.visits_added == theirs.visits_added
        assert mine.visits_removed == theirs.visits_removed
        assert set(mine.contacts_added) == set(theirs.contacts_added) != set()
        assert set(mine.contacts_removed) == set(theirs.contacts_removed)
    assert mine.contacts_removed


@pytest.mark.parametrize("at", [LOWEST_AT - 1, HIGHEST_AT + 1])
def test_a_scan_time_the_state_cannot_hold_is_refused_and_changes_nothing(at: int) -> None:
    state = VenueState("cafe")
    state.apply([scan("e1", "ann", "in", T0)], RULES)
    with pytest.raises(InvalidScanError, match="epoch seconds from"):
        state.apply([scan("e2", "bob", "in", T0), scan("e3", "bob", "out", at)], RULES)
    assert [v.person for v in state.visits()] == ["ann"] and state.scan_count == 1
    edge = state.apply([scan("e4", "bob", "in", LOWEST_AT), scan("e5", "cy", "in", HIGHEST_AT)],
                       VenueRules(default_dwell=60, max_dwell=120, min_overlap=0))
    assert sorted(v.person for v in edge.visits_added) == ["ann", "bob", "cy"]


def test_people_are_numbered_once_per_partition_and_released_when_no_venue_holds_them() -> None:
    tracer = TracerState()
    # A minute each, one after another: no two of them meet.
    rules = {"cafe": VenueRules(default_dwell=60, max_dwell=120, min_overlap=900), "shop": RULES}
    many = [scan(f"e{i}", f"p{i}", "in", T0 - 10 * 86_400 + 100 * i) for i in range(5_000)]
    tracer.apply([*many, scan("k", "kept", "in", T0 + 90_000, venue="shop")], rules)
    tracer.apply([scan("k2", "p1", "in", T0 + 90_000, venue="shop")], rules)
    shop = tracer.venue("shop")
    assert shop is not None and sorted(shop.held_people()) == ["kept", "p1"]
    assert tracer.evict_before(T0 + 80_000) == 5_000 and tracer.venue_ids() == ["shop"]
    # The numbers of the 4,999 people gone are reused; those held keep theirs.
    assert shop.person_numbers() == {1, 5_000}
    tracer.apply([scan("n", "new", "in", T0 + 90_100, venue="shop")], rules)
    assert len(shop.person_numbers() - {1, 5_000}) == 1
    assert [(c.person_a, c.person_b) for c in shop.contacts()] == [
        ("kept", "new"), ("kept", "p1"), ("new", "p1")]


def test_new_rules_re_derive_everything() -> None:
    state = VenueState("cafe")
    state.apply([scan("e1", "ann", "in", T0), scan("e2", "bob", "in", T0 + 1_800)], RULES)
    shorter = VenueRules(default_dwell=1_800, max_dwell=43_200, min_overlap=0)
    delta = state.apply([], shorter)
    assert edges(delta.contacts_removed) == [("ann", "bob", 1_800, 3_600)]
    assert edges(delta.contacts_added) == [("ann", "bob", 1_800, 1_800)]
    assert state.rules == shorter


def test_the_tracer_state_routes_scans_to_their_venues() -> None:
    tracer = TracerState()
    delta = tracer.apply(
        [scan("e1", "ann", "in", T0), scan("e1", "bob", "in", T0, venue="shop")],
        {"cafe": RULES, "shop": RULES},
    )
    assert sorted((v.venue_id, v.person) for v in delta.visits_added) == [
        ("cafe", "ann"),
        ("shop", "bob"),
    ]
    assert tracer.venue_ids() == ["cafe", "shop"]
    assert tracer.forget_before(T0 + 1) == 2 and tracer.venue_ids() == []
    # A venue state made after forgetting starts at the same horizon.
    late = tracer.apply([scan("e2", "cy", "in", T0, venue="bar")], {"bar": RULES})
    assert [s.event_id for s in late.expired] == ["e2"]


# ---------------------------------------------------------------- properties

VENUES = ["cafe", "shop"]
PERSONS = ["ann", "bob", "cy", "dan"]
START = MIDNIGHT + 6 * 3_600
rules_strategy = st.builds(
    VenueRules,
    st.sampled_from([600, 1_800, 3_600]),
    st.sampled_from([1_200, 2_700, 43_200]),
    st.sampled_from([0, 1, 600, 900]),
)


@st.composite
def scan_sets(draw: st.DrawFn, max_scans: int = 30) -> list[Scan]:
    """Scans over two days (or a few hours, for dense overlaps), with shared event ids."""
    span = draw(st.sampled_from([4 * 3_600, 2 * 86_400]))
    grid = draw(st.sampled_from([1, 300, 900]))
    rows = draw(
        st.lists(
            st.tuples(
                st.sampled_from(VENUES),
                st.sampled_from(PERSONS),
                st.sampled_from(["in", "out"]),
                st.integers(0, span // grid),
                st.one_of(st.none(), st.integers(0, 7)),
            ),
            max_size=max_scans,
        )
    )
    return [
        scan(f"u{i}" if pool is None else f"s{pool}", person, direction, START + t * grid, venue)
        for i, (venue, person, direction, t, pool) in enumerate(rows)
    ]


@st.composite
def deliveries(draw: st.DrawFn, scans: list[Scan]) -> list[list[Scan]]:
    """The scans, some re-delivered, in any order, cut into batches of any sizes."""
    repeats = draw(st.lists(st.sampled_from(scans), max_size=5)) if scans else []
    order = draw(st.permutations(scans + repeats))
    cuts = sorted(draw(st.lists(st.integers(0, len(order)), max_size=6)))
    bounds = [0, *cuts, len(order)]
    return [order[a:b] for a, b in itertools.pairwise(bounds)]


class Replay:
    """Facts rebuilt from deltas alone, checking that every delta is exact."""

    def __init__(self) -> None:
        self.visits: set[Visit] = set()
        self.contacts: set[Contact] = set()

    def apply(self, delta: Delta) -> None:
        changes: list[tuple[set[Any], tuple[Any, ...], tuple[Any, ...]]] = [
            (self.visits, delta.visits_removed, delta.visits_added),
            (self.contacts, delta.contacts_removed, delta.contacts_added),
        ]
        for facts, removed, added in changes:
            assert len(set(removed)) == len(removed) and len(set(added)) == len(added)
            assert set(removed) <= facts, "retracted a fact that was never added"
            facts.difference_update(removed)
            assert not set(added) & facts, "added a fact twice"
            facts.update(added)


def held_scans(tracer: TracerState) -> list[Scan]:
    return [scan for state in tracer.venues() for scan in state.scans()]


def check_against_reference(tracer: TracerState, scans: list[Scan], rules: dict) -> None:
    assert set(tracer.visits()) == reference_visits(scans, rules)
    assert set(tracer.contacts()) == reference_contacts(scans, rules)


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_order_and_batching_gives_the_reference_and_exact_deltas(data: st.DataObject) -> None:
    scans = data.draw(scan_sets())
    rules = {venue: data.draw(rules_strategy) for venue in VENUES}
    tracer, replay = TracerState(), Replay()
    for batch in data.draw(deliveries(scans)):
        delta = tracer.apply(batch, rules)
        assert delta.expired == ()
        replay.apply(delta)
    check_against_reference(tracer, scans, rules)
    assert replay.visits == set(tracer.visits())
    assert replay.contacts == set(tracer.contacts())


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_state_loaded_from_part_of_the_batches_carries_on_identically(
    data: st.DataObject,
) -> None:
    scans = data.draw(scan_sets())
    rules = {venue: data.draw(rules_strategy) for venue in VENUES}
    batches = data.draw(deliveries(scans))
    split = data.draw(st.integers(0, len(batches)))
    tracer, replay = TracerState(), Replay()
    for batch in batches[:split]:
        replay.apply(tracer.apply(batch, rules))
    restored = TracerState()
    for batch in batches[:split]:
        restored.load(batch, rules)
    restored.rederive()
    assert set(restored.visits()) == set(tracer.visits())
    for batch in batches[split:]:
        replay.apply(restored.apply(batch, rules))
    check_against_reference(restored, scans, rules)
    assert replay.visits == set(restored.visits())


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_changed_rules_give_the_reference_of_the_new_rules(data: st.DataObject) -> None:
    scans = data.draw(scan_sets())
    before = {venue: data.draw(rules_strategy) for venue in VENUES}
    after = {venue: data.draw(rules_strategy) for venue in VENUES}
    batches = data.draw(deliveries(scans))
    split = data.draw(st.integers(0, len(batches)))
    tracer, replay = TracerState(), Replay()
    for i, batch in enumerate(batches):
        replay.apply(tracer.apply(batch, before if i < split else after))
    # Re-delivering everything reaches every venue, so each one has now seen the new rules.
    replay.apply(tracer.apply(scans, after))
    check_against_reference(tracer, scans, after)
    assert replay.contacts == set(tracer.contacts())


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_forgetting_only_drops_whole_old_visits_and_the_state_stays_exact(
    data: st.DataObject,
) -> None:
    scans = data.draw(scan_sets())
    rules = {venue: data.draw(rules_strategy) for venue in VENUES}
    tracer = TracerState()
    for batch in data.draw(deliveries(scans)):
        tracer.apply(batch, rules)
    before = set(tracer.visits())
    cutoff = START + data.draw(st.integers(0, 2 * 86_400))
    forgotten = tracer.forget_before(cutoff)

    kept = held_scans(tracer)
    assert forgotten == len(reference_scans(scans)) - len(kept)
    after = set(tracer.visits())
    assert after <= before
    assert all(visit.start < cutoff for visit in before - after)
    old = [s for s in kept if s.at < cutoff]
    assert all(s.direction == "in" for s in old)
    # At most one moment per person (a double-scanned in is several scans of that moment).
    moments = {(s.venue_id, s.person, s.at) for s in old}
    assert len({(venue, person) for venue, person, _ in moments}) == len(moments)
    check_against_reference(tracer, kept, rules)

    # Afterwards the state goes on from what it kept; scans before the cutoff are refused.
    replay = Replay()
    replay.visits, replay.contacts = after, set(tracer.contacts())
    more = data.draw(scan_sets(max_scans=15))
    expired: list[Scan] = []
    for batch in data.draw(deliveries(more)):
        delta = tracer.apply(batch, rules)
        replay.apply(delta)
        expired.extend(delta.expired)
    assert all(s.at < cutoff for s in expired)
    kept_now = held_scans(tracer)
    assert all(s.at >= cutoff for s in kept_now if s not in kept)
    check_against_reference(tracer, kept_now, rules)
    assert replay.visits == set(tracer.visits())
    assert replay.contacts == set(tracer.contacts())
