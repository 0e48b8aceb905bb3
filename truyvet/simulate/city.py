"""A synthetic city: venues, people and their days, as the scans their gates upload.

Pure and deterministic: the same :class:`CityConfig` gives byte-identical upload batches (event
ids come from the seed, never ``uuid4``). Nothing here opens a socket or reads a clock; the window
of simulated days ends at ``CityConfig.end``, which the caller picks.

The city is Hà Nội-like. Venues of six kinds have Zipf-like popularity within their kind (a few
very busy, most quiet). People live by routines: on weekdays an office (~8 h), a factory shift
(8-10 h, six days a week) or school (~6 h); around that, errands — the market (~30 min), a
restaurant (~1 h, lunch or dinner), now and then a clinic (~45 min). Scans are messy on purpose:
forgotten check-outs and check-ins, and everything :mod:`truyvet.simulate.gates` does to uploads.

Memory is bounded by one day of the population's scans (plus what offline gates hold back);
batches stream out in upload order, so runs of many days or millions of scans never hold all
their scans at once.

Example:
    >>> from datetime import UTC, datetime
    >>> city = City(CityConfig(seed=3, people=50, venues=8,
    ...                        end=datetime(2026, 11, 23, 12, 0, tzinfo=UTC)))
    >>> batches = list(city.batches())
    >>> all(len(b.scans) <= 2000 for b in batches)
    True
    >>> [b.uploaded_at for b in batches] == sorted(b.uploaded_at for b in batches)
    True
"""

from __future__ import annotations

import itertools
import math
import random
import re
from array import array
from bisect import bisect
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from schemas.venues import VenueKind
from truyvet.simulate.gates import GateUploads, Scan, UploadBatch, UploadStats
from truyvet.simulate.identities import CAPACITY as PERSON_CAPACITY
from truyvet.simulate.identities import PersonIds, event_id, venue_name

ICT = timezone(timedelta(hours=7), "ICT")
"""Viet Nam's time (no daylight saving): routines are local, scanners send local times."""

HOUR = 3600
MINUTE = 60

# Share of venues of each kind, and the order kinds come in when there are fewer than six.
KIND_SHARES: dict[VenueKind, float] = {
    VenueKind.OFFICE: 0.26,
    VenueKind.MARKET: 0.12,
    VenueKind.SCHOOL: 0.10,
    VenueKind.RESTAURANT: 0.30,
    VenueKind.CLINIC: 0.12,
    VenueKind.FACTORY: 0.10,
}
ZIPF_EXPONENT = 1.1
ZIPF_OFFSET = 1  # Zipf-Mandelbrot: the very top is a little less extreme than pure Zipf

# What a venue of each kind registers as the visit length when a check-out is missing (rule 2):
# its typical dwell, as a venue operator would set it.
DEFAULT_DWELL_S: dict[VenueKind, int] = {
    VenueKind.OFFICE: 8 * HOUR,
    VenueKind.FACTORY: 9 * HOUR,
    VenueKind.SCHOOL: 6 * HOUR,
    VenueKind.MARKET: 30 * MINUTE,
    VenueKind.RESTAURANT: 1 * HOUR,
    VenueKind.CLINIC: 45 * MINUTE,
}

# Errand dwell: lognormal around a median, clamped (seconds).
_ERRAND_DWELL: dict[VenueKind, tuple[int, float, int, int]] = {
    VenueKind.MARKET: (30 * MINUTE, 0.45, 8 * MINUTE, 2 * HOUR),
    VenueKind.RESTAURANT: (60 * MINUTE, 0.35, 20 * MINUTE, 150 * MINUTE),
    VenueKind.CLINIC: (45 * MINUTE, 0.40, 15 * MINUTE, 3 * HOUR),
}

# Who people are (shares of the population).
HOME, OFFICE_WORKER, FACTORY_WORKER, STUDENT = 0, 1, 2, 3
_ROLE_SHARES = ((OFFICE_WORKER, 0.40), (FACTORY_WORKER, 0.25), (STUDENT, 0.18), (HOME, 0.17))
_ROLE_KIND = {OFFICE_WORKER: VenueKind.OFFICE, FACTORY_WORKER: VenueKind.FACTORY,
              STUDENT: VenueKind.SCHOOL}
ABSENCE = 0.04  # off sick or on leave on a working day
LUNCH_OUT = 0.30  # office workers who check out for lunch at a restaurant
LATEST_END = 23 * HOUR + 45 * MINUTE  # everyone is home before midnight: days never overlap


_NAMESPACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")


class CityConfigError(ValueError):
    """A city that cannot be generated as asked."""


@dataclass(frozen=True, kw_only=True)
class CityConfig:
    """Everything a city depends on; equal configs give byte-identical batches."""

    end: datetime  # the simulated window is [end - days, end]
    seed: int = 1
    people: int = 2000
    venues: int = 60
    days: int = 1
    namespace: str | None = None  # venue-id prefix; default f"sim{seed}"
    upload_every_s: int = 30 * MINUTE  # how often an online gate scanner syncs
    max_batch: int = 2000
    missing_checkout: float = 0.15
    missing_checkin: float = 0.05
    duplicate_rate: float = 0.03
    outage_share: float = 0.10  # share of gates that go offline for hours on a given day

    def __post_init__(self) -> None:
        if self.end.tzinfo is None:
            raise CityConfigError("end must be timezone-aware")
        if self.people < 1 or self.venues < 1 or self.days < 1:
            raise CityConfigError("people, venues and days must each be at least 1")
        if self.people > PERSON_CAPACITY:
            raise CityConfigError(f"at most {PERSON_CAPACITY:,} people")
        if not 1 <= self.max_batch <= 10_000:
            raise CityConfigError("max_batch must be between 1 and 10,000 (ingest's limit)")
        if self.upload_every_s < MINUTE:
            raise CityConfigError("upload_every_s must be at least 60")
        for name in ("missing_checkout", "missing_checkin", "duplicate_rate", "outage_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise CityConfigError(f"{name} must be between 0 and 1")
        if self.namespace is not None and not _NAMESPACE.fullmatch(self.namespace):
            raise CityConfigError(
                f"namespace {self.namespace!r} must be 1-64 letters, digits, '.', '_', ':' or '-',"
                " starting with a letter or digit (it prefixes venue ids)")
        if self.missing_checkout + self.missing_checkin > 1.0:
            raise CityConfigError("missing_checkout + missing_checkin cannot exceed 1")

    @property
    def venue_prefix(self) -> str:
        return self.namespace or f"sim{self.seed}"

    @property
    def start(self) -> datetime:
        return self.end - timedelta(days=self.days)


@dataclass(frozen=True, slots=True)
class Venue:
    venue_id: str
    name: str
    kind: VenueKind
    address: str
    popularity: float  # Zipf weight within its kind; 1.0 for the busiest
    gates: int

    def registration(self) -> dict[str, Any]:
        """The ``POST /v1/venues`` body."""
        return {
            "venue_id": self.venue_id,
            "name": self.name,
            "kind": self.kind.value,
            "address": self.address,
            "default_dwell_s": DEFAULT_DWELL_S[self.kind],
        }


@dataclass(frozen=True, slots=True)
class CaseSpec:
    """A confirmed case to report: someone who was at a busy venue."""

    case_id: str
    person_id: str
    venue_id: str  # the busy venue they were seen at
    onset_at: datetime
    reported_at: datetime

    def body(self) -> dict[str, str]:
        """The ``POST /v1/cases`` body."""
        return {
            "case_id": self.case_id,
            "person_id": self.person_id,
            "onset_at": self.onset_at.isoformat(),
            "reported_at": self.reported_at.isoformat(),
        }


@dataclass
class CityStats:
    """What the last full pass of :meth:`City.batches` generated."""

    visits: int = 0
    scans: int = 0  # distinct scan events (copies not counted)
    missing_checkins: int = 0
    missing_checkouts: int = 0
    uploads: UploadStats | None = None
    scans_by_venue: list[int] = field(default_factory=list)


class _Picker:
    """Weighted choice among venues of one kind, by popularity."""

    def __init__(self, indexes: Sequence[int], weights: Sequence[float]) -> None:
        self.indexes = list(indexes)
        self._cumulative = list(itertools.accumulate(weights))

    def __bool__(self) -> bool:
        return bool(self.indexes)

    def pick(self, rng: random.Random) -> int:
        return self.indexes[bisect(self._cumulative, rng.random() * self._cumulative[-1])]


class City:
    """Venues and people of one config; :meth:`batches` streams the uploads of its days."""

    def __init__(self, config: CityConfig) -> None:
        self.config = config
        rng = random.Random(f"{config.seed}:city")
        self.venues = _build_venues(config, rng)
        self._pickers = {
            kind: _Picker(
                [i for i, v in enumerate(self.venues) if v.kind is kind],
                [v.popularity for v in self.venues if v.kind is kind],
            )
            for kind in KIND_SHARES
        }
        # Each namespace is a city of its own people: two runs never share a person.
        self._ids = PersonIds(f"{config.seed}:{config.venue_prefix}")
        self._build_people(rng)
        self.stats = CityStats()
        self._recent: list[deque[int]] = []

    # --- people ---------------------------------------------------------------------------

    def _build_people(self, rng: random.Random) -> None:
        n = self.config.people
        self._role = bytearray(n)
        self._work = array("i", [-1]) * n
        self._usual_start = array("i", [0]) * n
        self._market = array("i", [-1]) * n
        self._restaurant = array("i", [-1]) * n
        self._clinic = array("i", [-1]) * n
        roles = [role for role, _ in _ROLE_SHARES]
        role_weights = [share for _, share in _ROLE_SHARES]
        for p in range(n):
            role = rng.choices(roles, role_weights)[0]
            picker = self._pickers[_ROLE_KIND[role]] if role != HOME else None
            if picker:
                self._work[p] = picker.pick(rng)
            else:
                role = HOME  # no venue of that kind in a tiny city
            self._role[p] = role
            if role == OFFICE_WORKER:
                self._usual_start[p] = 7 * HOUR + 30 * MINUTE + rng.randrange(90 * MINUTE)
            elif role == FACTORY_WORKER:  # day shift or afternoon shift
                self._usual_start[p] = (6 * HOUR if rng.random() < 0.7 else 13 * HOUR + 30 * MINUTE)
            elif role == STUDENT:
                self._usual_start[p] = 6 * HOUR + 45 * MINUTE + rng.randrange(25 * MINUTE)
            for column, kind in ((self._market, VenueKind.MARKET),
                                 (self._restaurant, VenueKind.RESTAURANT),
                                 (self._clinic, VenueKind.CLINIC)):
                if self._pickers[kind]:
                    column[p] = self._pickers[kind].pick(rng)

    def person_id(self, p: int) -> str:
        return self._ids.person_id(p)

    def _errand_venue(self, kind: VenueKind, favourite: int, loyalty: float,
                      rng: random.Random) -> int:
        if favourite >= 0 and rng.random() < loyalty:
            return favourite
        picker = self._pickers[kind]
        return picker.pick(rng) if picker else -1

    def _errand(self, kind: VenueKind, venue: int, earliest: int, window_s: int,
                rng: random.Random) -> tuple[int, int, int] | None:
        if venue < 0:
            return None
        median, sigma, shortest, longest = _ERRAND_DWELL[kind]
        dwell = min(longest, max(shortest, int(median * math.exp(rng.gauss(0.0, sigma)))))
        return earliest + rng.randrange(window_s), venue, dwell

    def plan_day(self, p: int, weekday: int, rng: random.Random) -> list[tuple[int, int, int]]:
        """Person ``p``'s visits on a day: ``(venue, start, end)`` in local seconds of the day."""
        role = self._role[p]
        wanted: list[tuple[int, int, int]] = []  # (desired start, venue, dwell)
        working_days = 6 if role == FACTORY_WORKER else 5
        at_work = role != HOME and weekday < working_days and rng.random() >= ABSENCE
        leave_work = 0
        if at_work:
            start = self._usual_start[p] + int(rng.gauss(0.0, 8 * MINUTE))
            if role == OFFICE_WORKER:
                length = int(min(10.5 * HOUR, max(6 * HOUR, rng.gauss(8 * HOUR, 40 * MINUTE))))
            elif role == FACTORY_WORKER:
                length = rng.randint(8 * HOUR, 10 * HOUR)
            else:
                length = int(min(7 * HOUR, max(5 * HOUR, rng.gauss(6 * HOUR, 20 * MINUTE))))
            work = self._work[p]
            leave_work = start + length
            lunch = (self._errand(VenueKind.RESTAURANT,
                                  self._errand_venue(VenueKind.RESTAURANT, self._restaurant[p],
                                                     0.5, rng),
                                  11 * HOUR + 40 * MINUTE, 30 * MINUTE, rng)
                     if role == OFFICE_WORKER and rng.random() < LUNCH_OUT else None)
            if lunch is not None and start < lunch[0] - HOUR and lunch[0] + 2 * HOUR < leave_work:
                lunch_start, restaurant, dwell = lunch
                dwell = min(dwell, 75 * MINUTE)
                back = lunch_start + dwell + 5 * MINUTE
                wanted += [(start, work, lunch_start - 5 * MINUTE - start),
                           (lunch_start, restaurant, dwell), (back, work, leave_work - back)]
            else:
                wanted.append((start, work, length))
        weekend = weekday >= 5
        # The morning market is for those not at work; workers shop on their way home.
        market = self._errand_venue(VenueKind.MARKET, self._market[p], 0.75, rng)
        if not at_work and rng.random() < (0.45 if role == HOME or weekend else 0.2):
            errand = self._errand(VenueKind.MARKET, market, 6 * HOUR, 3 * HOUR + 30 * MINUTE, rng)
            wanted += [errand] if errand else []
        elif at_work and rng.random() < 0.2:
            errand = self._errand(VenueKind.MARKET, market, leave_work + 10 * MINUTE,
                                  30 * MINUTE, rng)
            wanted += [errand] if errand else []
        if rng.random() < (0.35 if weekend else 0.18):
            restaurant = self._errand_venue(VenueKind.RESTAURANT, self._restaurant[p], 0.5, rng)
            errand = self._errand(VenueKind.RESTAURANT, restaurant, 18 * HOUR, 150 * MINUTE, rng)
            wanted += [errand] if errand else []
        if rng.random() < (0.04 if role == HOME else 0.015):
            clinic = self._errand_venue(VenueKind.CLINIC, self._clinic[p], 0.6, rng)
            errand = self._errand(VenueKind.CLINIC, clinic, 7 * HOUR + 30 * MINUTE, 8 * HOUR, rng)
            wanted += [errand] if errand else []
        return _schedule(wanted, rng)

    # --- scans ------------------------------------------------------------------------------

    def _day_scans(self, day: date) -> list[tuple[int, int, int, int]]:
        """``(epoch second, venue, person, 0 in | 1 out)`` of one local day, in the window."""
        config = self.config
        rng = random.Random(f"{config.seed}:day:{day.isoformat()}")
        midnight = int(datetime(day.year, day.month, day.day, tzinfo=ICT).timestamp())
        first, last = int(config.start.timestamp()), int(config.end.timestamp())
        missing_in = config.missing_checkin
        missing_any = config.missing_checkin + config.missing_checkout
        stats = self.stats
        scans: list[tuple[int, int, int, int]] = []
        for p in range(config.people):
            for venue, begin, end in self.plan_day(p, day.weekday(), rng):
                t_in, t_out = midnight + begin, midnight + end
                if t_out < first or t_in > last:
                    continue
                stats.visits += 1
                roll = rng.random()
                if roll >= missing_in and first <= t_in <= last:
                    scans.append((t_in, venue, p, 0))
                if (roll < missing_in or roll >= missing_any) and first <= t_out <= last:
                    scans.append((t_out, venue, p, 1))
                if roll < missing_in:
                    stats.missing_checkins += 1
                elif roll < missing_any:
                    stats.missing_checkouts += 1
        scans.sort()
        return scans

    def _days(self) -> list[date]:
        first = self.config.start.astimezone(ICT).date()
        last = self.config.end.astimezone(ICT).date()
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    def batches(self) -> Iterator[UploadBatch]:
        """Every gate upload of the simulated window, in arrival order.

        Each pass starts afresh and gives the same batches; :attr:`stats` describes the last
        complete pass, and :meth:`cases` needs one.
        """
        config = self.config
        # Separate streams: how gates upload never changes which scans there are.
        rng = random.Random(f"{config.seed}:gates")
        uploads = GateUploads(
            [(v.venue_id, v.gates) for v in self.venues], random.Random(f"{config.seed}:uploads"),
            upload_every_s=config.upload_every_s, max_batch=config.max_batch,
            duplicate_rate=config.duplicate_rate, outage_share=config.outage_share,
        )
        self.stats = stats = CityStats(scans_by_venue=[0] * len(self.venues))
        recent: list[deque[int]] = [deque(maxlen=64) for _ in self.venues]
        self._recent = recent
        venues, prefix, seed = self.venues, config.venue_prefix, config.seed
        serial = 0
        for day in self._days():
            uploads.plan_outages(int(datetime(day.year, day.month, day.day,
                                              tzinfo=ICT).timestamp()))
            for at, v, p, direction in self._day_scans(day):
                yield from uploads.advance(at)
                venue = venues[v]
                gate_no = rng.randrange(venue.gates)
                serial += 1
                scan: Scan = {
                    "event_id": event_id(seed, prefix, serial),
                    "venue_id": venue.venue_id,
                    "person_id": self._ids.person_id(p),
                    "direction": "out" if direction else "in",
                    "scanned_at": datetime.fromtimestamp(at, ICT).isoformat(),
                    "gate": f"g{gate_no + 1}",
                }
                if venue.kind is VenueKind.CLINIC and not direction and rng.random() < 0.4:
                    scan["declaration"] = _declaration(rng)
                uploads.add(at, v, gate_no, scan)
                stats.scans_by_venue[v] += 1
                recent[v].append(p)
        stats.scans = serial
        yield from uploads.finish(int(config.end.timestamp()))
        stats.uploads = uploads.stats()

    def cases(self, count: int) -> list[CaseSpec]:
        """``count`` cases among people seen lately at the busiest venues, one venue each in turn.

        Onset is a day or two before the report; the report is at the end of the window.
        """
        if count <= 0:
            return []
        if not self._recent:
            raise RuntimeError("generate the city's batches before picking its cases")
        rng = random.Random(f"{self.config.seed}:cases")
        busiest = sorted(range(len(self.venues)),
                         key=lambda v: (-self.stats.scans_by_venue[v], v))
        busiest = [v for v in busiest if self._recent[v]][:max(3, count)]
        chosen: dict[int, int] = {}  # person -> venue
        for v in itertools.islice(itertools.cycle(busiest), len(busiest) * 64):
            if len(chosen) == count:
                break
            for p in reversed(self._recent[v]):
                if p not in chosen:
                    chosen[p] = v
                    break
        reported = self.config.end.astimezone(ICT).replace(second=0, microsecond=0)
        return [
            CaseSpec(
                case_id=f"{self.config.venue_prefix}-f0-{n + 1:03d}",
                person_id=self._ids.person_id(p),
                venue_id=self.venues[v].venue_id,
                onset_at=reported - timedelta(minutes=rng.randint(24 * 60, 48 * 60)),
                reported_at=reported,
            )
            for n, (p, v) in enumerate(chosen.items())
        ]


def _schedule(wanted: list[tuple[int, int, int]],
              rng: random.Random) -> list[tuple[int, int, int]]:
    """One visit after another: each starts when wanted, or after the last plus travel time."""
    visits: list[tuple[int, int, int]] = []
    free_from = 0
    for desired, venue, dwell in sorted(wanted):
        begin = max(desired, free_from)
        end = begin + max(dwell, 5 * MINUTE)
        if end > LATEST_END:
            continue
        visits.append((venue, begin, end))
        free_from = end + rng.randint(8 * MINUTE, 30 * MINUTE)
    return visits


def _declaration(rng: random.Random) -> dict[str, bool]:
    return {
        "fever": rng.random() < 0.3,
        "cough": rng.random() < 0.3,
        "shortness_of_breath": rng.random() < 0.05,
        "contact_with_case": rng.random() < 0.05,
    }


def _kind_counts(n: int) -> dict[VenueKind, int]:
    """How many venues of each kind: at least one of each once there are six, else by share."""
    kinds = sorted(KIND_SHARES, key=lambda k: -KIND_SHARES[k])
    if n < len(kinds):
        return {kind: 1 if i < n else 0 for i, kind in enumerate(kinds)}
    extra = n - len(kinds)
    counts = {kind: 1 + int(extra * KIND_SHARES[kind]) for kind in kinds}
    remainders = sorted(kinds, key=lambda k: -(extra * KIND_SHARES[k] % 1))
    for kind in remainders[: n - sum(counts.values())]:
        counts[kind] += 1
    return counts


def _build_venues(config: CityConfig, rng: random.Random) -> list[Venue]:
    venues: list[Venue] = []
    for kind, count in _kind_counts(config.venues).items():
        ranks = list(range(count))
        rng.shuffle(ranks)  # the busiest is not always number one
        for number, rank in enumerate(ranks, start=1):
            name, address = venue_name(rng, kind.value, number)
            big = kind in (VenueKind.OFFICE, VenueKind.FACTORY, VenueKind.SCHOOL, VenueKind.MARKET)
            gates = 3 if rank == 0 and big else 2 if rank < 3 else 1
            venues.append(Venue(
                venue_id=f"{config.venue_prefix}-{kind.value}-{number:03d}",
                name=name, kind=kind, address=address,
                popularity=((1 + ZIPF_OFFSET) / (rank + 1 + ZIPF_OFFSET)) ** ZIPF_EXPONENT,
                gates=gates,
            ))
    return venues
