"""The synthetic city: deterministic, realistic enough, and exactly as messy as configured."""

from __future__ import annotations

import re
import statistics
import tracemalloc
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import pairwise

import pytest
from pydantic import TypeAdapter

from schemas.cases import CaseIn
from schemas.scans import ScanIn
from schemas.venues import VenueCreate, VenueKind
from truyvet.simulate.city import City, CityConfig, CityConfigError
from truyvet.simulate.gates import UploadBatch
from truyvet.simulate.identities import PersonIds

END = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)  # a Friday evening in Hà Nội
SCANS = TypeAdapter(list[ScanIn])
PHONE = re.compile(r"^0[35789][0-9]{8}$")
CITIZEN_ID = re.compile(r"^0[0-9]{2}[0-3][0-9]{2}[0-9]{6}$")


def fingerprint(batches: list[UploadBatch]) -> list[tuple[object, ...]]:
    return [(b.venue_id, b.gate, b.uploaded_at, b.body(), b.redelivered) for b in batches]


@cache
def three_days() -> tuple[City, tuple[UploadBatch, ...]]:
    city = City(CityConfig(seed=5, people=3000, venues=80, days=3, end=END))
    return city, tuple(city.batches())


def distinct_scans(batches: tuple[UploadBatch, ...]) -> dict[str, dict[str, object]]:
    return {scan["event_id"]: scan for batch in batches for scan in batch.scans}


def test_the_same_seed_gives_byte_identical_batches() -> None:
    config = CityConfig(seed=11, people=400, venues=20, days=2, end=END)
    first = fingerprint(list(City(config).batches()))
    assert first == fingerprint(list(City(config).batches()))
    city = City(config)
    assert fingerprint(list(city.batches())) == fingerprint(list(city.batches())) == first


def test_different_seeds_give_different_cities() -> None:
    one = City(CityConfig(seed=1, people=400, venues=20, end=END, namespace="same"))
    two = City(CityConfig(seed=2, people=400, venues=20, end=END, namespace="same"))
    scans_one = [s for b in one.batches() for s in b.scans]
    scans_two = [s for b in two.batches() for s in b.scans]
    assert {s["event_id"] for s in scans_one}.isdisjoint(s["event_id"] for s in scans_two)
    assert {s["person_id"] for s in scans_one} != {s["person_id"] for s in scans_two}
    assert [(v.kind, v.popularity) for v in one.venues] != [(v.kind, v.popularity)
                                                           for v in two.venues]


def test_every_scan_validates_as_the_ingest_api_takes_it() -> None:
    _, batches = three_days()
    for batch in batches:
        scans = SCANS.validate_python(batch.scans)
        assert {s.venue_id for s in scans} == {batch.venue_id}
        assert all(s.scanned_at.tzinfo is not None for s in scans)
    city, _ = three_days()
    for venue in city.venues:
        VenueCreate.model_validate(venue.registration())


def test_batches_arrive_in_upload_order_and_fit_a_request() -> None:
    city = City(CityConfig(seed=3, people=1500, venues=12, end=END, max_batch=40))
    batches = list(city.batches())
    assert [b.uploaded_at for b in batches] == sorted(b.uploaded_at for b in batches)
    assert max(len(b.scans) for b in batches) == 40


def test_popularity_is_skewed_a_few_busy_venues_most_quiet() -> None:
    city, _ = three_days()
    visits = sorted(city.stats.scans_by_venue, reverse=True)
    top_tenth = visits[: len(visits) // 10]
    assert sum(top_tenth) > 0.3 * sum(visits)
    assert statistics.median(visits) < 0.75 * statistics.mean(visits)
    offices = sorted((n for n, v in zip(city.stats.scans_by_venue, city.venues, strict=True)
                      if v.kind is VenueKind.OFFICE), reverse=True)
    assert offices[0] > 4 * statistics.median(offices)


def test_kinds_have_their_dwell_times() -> None:
    city, batches = three_days()
    kind = {v.venue_id: v.kind for v in city.venues}
    dwell: dict[VenueKind, list[float]] = defaultdict(list)
    for (venue, _), moments in _moments_by_visitor(batches).items():
        for (t_in, d_in), (t_out, d_out) in pairwise(moments):
            if (d_in, d_out) == ("in", "out"):
                dwell[kind[venue]].append((t_out - t_in) / 3600)
    median = {k: statistics.median(hours) for k, hours in dwell.items()}
    assert 7 <= statistics.quantiles(dwell[VenueKind.OFFICE], n=4)[2] <= 9  # lunch splits some
    assert 8 <= median[VenueKind.FACTORY] <= 10
    assert 5.5 <= median[VenueKind.SCHOOL] <= 6.5
    assert 0.35 <= median[VenueKind.MARKET] <= 0.7
    assert 0.8 <= median[VenueKind.RESTAURANT] <= 1.2
    assert 0.6 <= median[VenueKind.CLINIC] <= 0.9


def _moments_by_visitor(
    batches: tuple[UploadBatch, ...],
) -> dict[tuple[str, str], list[tuple[float, str]]]:
    by_visitor: dict[tuple[str, str], list[tuple[float, str]]] = defaultdict(list)
    for scan in distinct_scans(batches).values():
        at = datetime.fromisoformat(str(scan["scanned_at"])).timestamp()
        by_visitor[(str(scan["venue_id"]), str(scan["person_id"]))].append(
            (at, str(scan["direction"])))
    for moments in by_visitor.values():
        moments.sort()
    return by_visitor


def test_missing_check_outs_and_check_ins_are_as_configured() -> None:
    _, batches = three_days()
    complete = missing_out = missing_in = 0
    for moments in _moments_by_visitor(batches).values():
        open_visit = False
        for _, direction in moments:
            if direction == "in":
                missing_out += open_visit
                open_visit = True
            elif open_visit:
                complete += 1
                open_visit = False
            else:
                missing_in += 1
        missing_out += open_visit
    visits = complete + missing_out + missing_in
    assert missing_out / visits == pytest.approx(0.15, abs=0.02)
    assert missing_in / visits == pytest.approx(0.05, abs=0.015)


def test_duplicates_late_gates_and_out_of_order_uploads_are_as_configured() -> None:
    _, batches = three_days()
    sent = sum(len(b.scans) for b in batches)
    distinct = len(distinct_scans(batches))
    assert (sent - distinct) / distinct == pytest.approx(0.03, abs=0.006)
    # Offline gates upload hours late...
    late = [b for b in batches if b.delay_s >= 2 * 3600]
    assert 0.002 * len(batches) < len(late) < 0.1 * len(batches)
    assert max(b.delay_s for b in batches) >= 4 * 3600
    # ...so a venue's scans reach ingest out of order.
    newest_sent: dict[str, float] = {}
    out_of_order = 0
    for batch in batches:
        times = [datetime.fromisoformat(str(s["scanned_at"])).timestamp() for s in batch.scans]
        out_of_order += min(times) < newest_sent.get(batch.venue_id, 0.0)
        newest_sent[batch.venue_id] = max(newest_sent.get(batch.venue_id, 0.0), *times)
    assert out_of_order > 10


def test_redelivered_marks_exactly_what_ingest_accepts_a_second_time() -> None:
    # Ingest de-duplicates within a request only: what it accepts, less the marked copies,
    # is each distinct scan once. Small batches split copies from their originals too.
    city = City(CityConfig(seed=9, people=1200, venues=15, end=END, max_batch=7,
                           duplicate_rate=0.2))
    batches = list(city.batches())
    accepted = sum(len({s["event_id"] for s in b.scans}) for b in batches)
    redelivered = sum(len(b.redelivered) for b in batches)
    assert redelivered > 0
    assert accepted - redelivered == len(distinct_scans(tuple(batches))) == city.stats.scans


def test_people_have_unique_vietnamese_ids() -> None:
    _, batches = three_days()
    people = {str(s["person_id"]) for s in distinct_scans(batches).values()}
    assert all(PHONE.match(p) or CITIZEN_ID.match(p) for p in people)
    phones = sum(bool(PHONE.match(p)) for p in people)
    assert 0.6 < phones / len(people) < 0.8
    ids = PersonIds("5:sim5")
    assert len({ids.person_id(i) for i in range(200_000)}) == 200_000


def test_cases_are_people_seen_at_busy_venues_with_onset_a_day_or_two_before() -> None:
    city, batches = three_days()
    cases = city.cases(3)
    assert len({c.person_id for c in cases}) == len({c.case_id for c in cases}) == 3
    busiest = Counter(dict(enumerate(city.stats.scans_by_venue))).most_common(5)
    busy_ids = {city.venues[v].venue_id for v, _ in busiest}
    seen = {(s["person_id"], s["venue_id"]) for s in distinct_scans(batches).values()}
    for case in cases:
        CaseIn.model_validate(case.body())
        assert case.venue_id in busy_ids and (case.person_id, case.venue_id) in seen
        assert timedelta(days=1) <= case.reported_at - case.onset_at <= timedelta(days=2)
        assert case.reported_at <= END
    assert cases == city.cases(3)


def test_memory_does_not_grow_with_the_number_of_days() -> None:
    def peak(days: int) -> int:
        tracemalloc.start()
        try:
            for _ in City(CityConfig(seed=4, people=600, venues=30, days=days,
                                     end=END)).batches():
                pass
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    assert peak(6) < 1.5 * peak(2)


@pytest.mark.parametrize(
    "change",
    [{"end": datetime(2026, 11, 20, 18, 0)}, {"people": 0}, {"max_batch": 20_000},  # noqa: DTZ001
     {"missing_checkout": 0.9, "missing_checkin": 0.2}, {"namespace": "two words"}],
)
def test_impossible_cities_are_refused(change: dict[str, object]) -> None:
    with pytest.raises(CityConfigError):
        CityConfig(**{"end": END, **change})  # type: ignore[arg-type]
