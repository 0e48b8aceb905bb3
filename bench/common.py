"""What the benchmarks share: their own stack, isolated stores, a synthetic city, and reporting.

The benchmark stack lives in ``.truyvet-bench/`` on ports of its own (Kafka 29092/29093,
ClickHouse 29000/28123), so it runs next to the development stack (``.truyvet/``) and the test
stack (``.truyvet-test/``). It is started when needed and stopped at the end unless ``--keep-stack``
(or ``TRUYVET_BENCH_KEEP_STACK=1``) keeps it up for the next run. Each run works on a fresh topic
prefix and ClickHouse database, dropped afterwards.

Figures are printed as readable lines and then, last, as ONE line of JSON with every figure, so
a script can keep the history (``python -m bench.tracer | tail -1 >> tracer.jsonl``).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import platform
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from schemas.common import Direction
from schemas.registry import Role, VenueRecord
from schemas.scans import ScanBatch, ScanEvent
from schemas.venues import VenueKind, VenuePublic
from services.core.config import IngestSettings, Settings
from services.core.kafka_connection import kafka_options
from services.core.registry_log import publish_records_blocking
from services.core.tokens import issue_token
from truyvet.stack import clickhouse as clickhouse_part
from truyvet.stack import kafka as kafka_part
from truyvet.stack.lifecycle import isolated_copy
from truyvet.stack.services import settings_for
from truyvet.stack.sharing import shared_infrastructure

REPO_ROOT = Path(__file__).resolve().parents[1]
BENCH_STATE_DIR = REPO_ROOT / ".truyvet-bench"
KEEP_STACK_ENV = "TRUYVET_BENCH_KEEP_STACK"


# ---------------------------------------------------------------------------------- the stack


def bench_settings() -> IngestSettings:
    """The benchmark stack: its own state dir and ports, whatever the environment says — but
    for ``TRUYVET_TEST_PORT_OFFSET``, which shifts every port as it does the tests', so two
    checkouts can run benchmarks side by side."""
    offset = int(os.environ.get("TRUYVET_TEST_PORT_OFFSET", "0"))
    return IngestSettings(
        state_dir=BENCH_STATE_DIR,
        kafka_bootstrap=f"127.0.0.1:{29092 + offset}",
        kafka_controller_port=29093 + offset,
        clickhouse_host="127.0.0.1",
        clickhouse_port=29000 + offset,
        clickhouse_http_port=28123 + offset,
        clickhouse_database="truyvet_bench",
        ingest_port=28000 + offset,
        alerts_port=28001 + offset,
        topic_prefix="",
    )


def keep_stack_default() -> bool:
    return os.environ.get(KEEP_STACK_ENV) == "1"


def add_keep_options(parser: argparse.ArgumentParser, *, data: bool = True) -> None:
    """``--keep-stack`` (and ``--keep-data``): what a benchmark leaves behind when it ends."""
    parser.add_argument("--keep-stack", action="store_true", default=keep_stack_default(),
                        help=f"leave the benchmark stack running (or {KEEP_STACK_ENV}=1)")
    if data:
        parser.add_argument("--keep-data", action="store_true",
                            help="keep the run's topics and database")


@contextlib.contextmanager
def bench_stack(*, keep: bool) -> Iterator[Settings]:
    """Kafka and ClickHouse of the benchmark stack, started unless already running."""
    began = time.monotonic()
    with shared_infrastructure(bench_settings(), keep=keep, progress=lambda m: print(f"  {m}")) \
            as settings:
        print(f"benchmark stack ready in {time.monotonic() - began:.1f} s "
              f"(Kafka {settings.kafka_bootstrap}, ClickHouse :{settings.clickhouse_port})")
        yield settings


@contextlib.contextmanager
def isolated_stores(stack: Settings, *, keep_data: bool = False,
                    **overrides: Any) -> Iterator[Settings]:
    """Settings with a fresh topic prefix, database, ports and secrets; stores dropped after."""
    tag = uuid.uuid4().hex[:10]
    state_dir = BENCH_STATE_DIR / "runs" / tag
    state_dir.mkdir(parents=True, exist_ok=True)
    settings = isolated_copy(stack, state_dir, topic_prefix=f"b{tag}-",
                             database=f"bench_{tag}", **overrides)
    try:
        yield settings
    finally:
        if not keep_data:
            drop_stores(settings)


def drop_stores(settings: Settings) -> None:
    """Delete the run's topics (the workers' internal ones too), consumer groups and database."""
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(**kafka_options(settings), request_timeout_ms=60_000)
    try:
        topics = [t for t in admin.list_topics() if t.startswith(settings.topic_prefix)]
        if topics:
            admin.delete_topics(sorted(topics), timeout_ms=60_000)
        groups = [g["group_id"] for g in admin.list_groups()
                  if g["group_id"].startswith(settings.topic_prefix)]
        if groups:
            admin.delete_groups(groups)
    finally:
        admin.close()
    clickhouse_part.drop_database(settings)


def grant_admin(settings: Settings) -> str:
    token, record = issue_token(Role.ADMIN, "benchmark")
    publish_records_blocking(settings, [record])
    return token


# ------------------------------------------------------------------------------ the city


@dataclass(frozen=True)
class VenueKindProfile:
    """How one kind of venue is visited: size, dwell and opening hours (local time, UTC+7)."""

    kind: VenueKind
    share: float  # of all venues
    visits: int  # typical visits (or staff) per day; actual sizes are skewed around it
    dwell_median_s: int
    dwell_sigma: float  # of the log-normal dwell
    opens_h: float
    closes_h: float
    workplace: bool = False  # staff come once a day: in in the morning, out in the evening
    min_overlap_s: int | None = None  # venue override of rule 3 (None: the default 15 min)


# A city's QR doors: many small shops and eateries, a few busy markets and clinics, offices and
# workshops whose staff stay all day. A venue is one door/floor, so workplaces are tens of
# people, not thousands (a whole factory behind one QR would be one huge clique).
PROFILES: tuple[VenueKindProfile, ...] = (
    VenueKindProfile(VenueKind.SHOP, 0.40, 120, 10 * 60, 0.6, 7, 22),
    VenueKindProfile(VenueKind.RESTAURANT, 0.22, 160, 40 * 60, 0.4, 6, 22),
    VenueKindProfile(VenueKind.MARKET, 0.05, 600, 20 * 60, 0.6, 5, 19, min_overlap_s=600),
    VenueKindProfile(VenueKind.CLINIC, 0.05, 250, 30 * 60, 0.6, 7, 17),
    VenueKindProfile(VenueKind.OFFICE, 0.17, 20, 8 * 3600, 0.15, 7.5, 9, workplace=True),
    VenueKindProfile(VenueKind.FACTORY, 0.05, 30, 9 * 3600, 0.1, 6, 8, workplace=True),
    VenueKindProfile(VenueKind.SCHOOL, 0.05, 30, 5 * 3600, 0.1, 7, 8, workplace=True),
)
LOCAL_OFFSET_S = 7 * 3600
MAX_VISITS = 1_500
DAY_S = 86_400

ScanRow = tuple[str, str, Direction, int]
"""``(event_id, raw person id, direction, scanned_at epoch seconds)``."""


@dataclass(frozen=True)
class CityVenue:
    venue_id: str
    kind: VenueKind
    min_overlap_s: int | None


@dataclass
class CityDay:
    """One day of a city's scans, venue by venue, in the order each venue's gate saw them."""

    now: int
    venues: list[CityVenue]
    scans: dict[str, list[tuple[int, ScanRow]]]  # venue_id -> [(delivered_at, scan)] sorted
    people: int
    visits: int = 0

    @property
    def scan_count(self) -> int:
        return sum(len(rows) for rows in self.scans.values())

    def batches(self, *, low: int, high: int, seed: int = 3) -> list[tuple[str, list[ScanRow]]]:
        """Each venue's scans cut into uploads of ``low``..``high`` scans, in upload order.

        A gate uploads what it has gathered; uploads of all venues interleave by the time they
        were made (the newest scan's delivery time), so a gate that was offline lands late.
        """
        rng = random.Random(seed)
        timed: list[tuple[int, str, list[ScanRow]]] = []
        for venue_id, delivered in self.scans.items():
            i = 0
            while i < len(delivered):
                size = rng.randint(low, high) if high > low else high
                chunk = delivered[i:i + size]
                timed.append((chunk[-1][0], venue_id, [scan for _, scan in chunk]))
                i += size
        timed.sort(key=lambda item: (item[0], item[1]))
        return [(venue_id, rows) for _, venue_id, rows in timed]

    def venue_records(self, settings: Settings) -> list[VenueRecord]:
        """Registry records of the venues; each one's API key is its venue id (benchmarks only)."""
        now = datetime.fromtimestamp(self.now, UTC)
        return [
            VenueRecord(
                venue=VenuePublic(
                    venue_id=v.venue_id, name=f"{v.kind.value} {v.venue_id}", kind=v.kind,
                    default_dwell_s=settings.default_dwell_s, max_dwell_s=settings.max_dwell_s,
                    min_overlap_s=v.min_overlap_s or settings.min_overlap_s, created_at=now,
                ),
                key_sha256=hashlib.sha256(v.venue_id.encode()).hexdigest(),
            )
            for v in self.venues
        ]


def _phone(n: int) -> str:
    return f"09{n:08d}"


class _Gate:
    """One venue's scanner: numbers its scans and stamps when each one reaches the server."""

    def __init__(self, venue_id: str, rng: random.Random, window_start: int, now: int,
                 late_by: int) -> None:
        self.venue_id, self.rng, self.late_by = venue_id, rng, late_by
        self.window_start, self.now = window_start, now
        self.rows: list[tuple[int, ScanRow]] = []

    def emit(self, person: str, direction: Direction, at: int) -> None:
        if not self.window_start <= at <= self.now - 30:
            return  # not yet happened (still inside), or before the day generated
        delivered = at + self.rng.randrange(5, 60) + self.late_by
        event_id = f"{self.venue_id}-{len(self.rows) + 1}"
        self.rows.append((delivered, (event_id, person, direction, at)))


def city_day(scans: int, *, crowding: float = 1.0, seed: int = 1,
             now: int | None = None) -> CityDay:
    """About ``scans`` scans of one day in a city, timestamps within the last 24 hours.

    Venue sizes are log-normally skewed (a few venues take a large share of the visits). A
    visitor scans in and out (dwell log-normal around the kind's median); some forget to check
    out (rule 2's default dwell applies), some only check out, some tap in twice; staff of
    workplaces come in the morning and leave in the evening, a few going out for lunch. Scans
    are delivered within a minute, except for gates that were offline for a few hours.

    ``crowding`` multiplies every venue's size (fewer, busier venues for the same scans): the
    contacts a scan makes grow about linearly with it, since people at a venue at the same time
    all meet each other.
    """
    rng = random.Random(seed)
    now = int(time.time()) if now is None else now
    window_start = now - DAY_S + 60
    kinds: list[VenueKindProfile] = []
    sizes: list[float] = []
    # Scans per visit: ~1.9 for visitors (some one-sided), ~2.5 for staff (lunch breaks).
    while sum(sizes) * 1.9 < scans:
        profile = rng.choices(PROFILES, [p.share for p in PROFILES])[0]
        skew = rng.lognormvariate(0, 0.45 if profile.workplace else 0.7)
        # Skewed, but one QR door sees at most a few thousand visits a day.
        kinds.append(profile)
        sizes.append(max(2.0, min(profile.visits * skew, MAX_VISITS) * crowding))
    people = max(100, scans // 5)  # a resident makes ~2-3 visits (~5 scans) a day
    day = CityDay(now=now, venues=[], scans={}, people=people)
    midnight_local = (now + LOCAL_OFFSET_S) // DAY_S * DAY_S - LOCAL_OFFSET_S
    person_serial = people
    for index, (profile, size) in enumerate(zip(kinds, sizes, strict=True)):
        venue_id = f"{profile.kind.value}-{index:05d}"
        day.venues.append(CityVenue(venue_id, profile.kind, profile.min_overlap_s))
        offline = rng.random() < 0.05  # this gate uploads its scans hours late
        gate = _Gate(venue_id, rng, window_start, now,
                     late_by=rng.randrange(2 * 3600, 6 * 3600) if offline else 0)
        for _ in range(round(size)):
            if profile.workplace:
                person_serial += 1
                person = _phone(person_serial)  # staff: nobody else's visit
            else:
                person = _phone(rng.randrange(people))
            dwell = int(rng.lognormvariate(math.log(profile.dwell_median_s), profile.dwell_sigma))
            dwell = max(60, min(dwell, 11 * 3600))
            opens = rng.uniform(profile.opens_h, profile.closes_h) * 3600
            arrive = midnight_local + int(opens)
            if arrive + dwell > now:
                arrive -= DAY_S  # yesterday's visit, so that it has mostly happened
            day.visits += 1
            lunch_break = profile.workplace and rng.random() < 0.25
            roll = rng.random()
            if lunch_break:
                lunch = arrive + int(rng.uniform(0.4, 0.6) * dwell)
                gate.emit(person, "in", arrive)
                gate.emit(person, "out", lunch)
                gate.emit(person, "in", lunch + rng.randrange(1800, 3600))
                gate.emit(person, "out", arrive + dwell)
            elif roll < 0.08:
                gate.emit(person, "in", arrive)  # forgot to check out
            elif roll < 0.13:
                gate.emit(person, "out", arrive + dwell)  # forgot to check in
            else:
                gate.emit(person, "in", arrive)
                if roll > 0.98:
                    gate.emit(person, "in", arrive + rng.randrange(2, 40))  # double tap
                gate.emit(person, "out", arrive + dwell)
        gate.rows.sort(key=lambda item: (item[0], item[1][3]))
        if gate.rows:
            day.scans[venue_id] = gate.rows
    return day


class Pseudonyms:
    """Ingest's pseudonymisation of the city's phone numbers, cached (people repeat)."""

    def __init__(self, settings: IngestSettings) -> None:
        from services.core.pseudonym import Pseudonymizer
        from services.ingest.identifiers import person_id_normaliser

        self._pseudonymizer = Pseudonymizer(
            settings.pseudonym_secret, person_id_normaliser(settings.phone_region)
        )
        self._cache: dict[str, str] = {}

    def __call__(self, person: str) -> str:
        found = self._cache.get(person)
        if found is None:
            found = self._cache[person] = self._pseudonymizer.pseudonym(person)
        return found


def scan_batch(venue_id: str, rows: Sequence[ScanRow], pseudonym: Callable[[str], str],
               ingested_at: datetime) -> ScanBatch:
    """The ``scans`` message ingest would publish for these scans (built as ingest builds it)."""
    return ScanBatch.model_construct(
        venue_id=venue_id,
        scans=[
            ScanEvent.model_construct(
                event_id=event_id, person_id=pseudonym(person), direction=Direction(direction),
                scanned_at=datetime.fromtimestamp(at, UTC), gate=None, declaration=None,
            )
            for event_id, person, direction, at in rows
        ],
        ingested_at=ingested_at,
    )


def scan_request_items(venue_id: str, rows: Sequence[ScanRow]) -> list[dict[str, str]]:
    """The JSON array a venue's gate would POST for these scans."""
    return [
        {
            "event_id": event_id,
            "venue_id": venue_id,
            "person_id": person,
            "direction": direction,
            "scanned_at": datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z"),
        }
        for event_id, person, direction, at in rows
    ]


# --------------------------------------------------------------------------- measurements


class PeakRss:
    """Samples the resident set size of processes (and their children) in a thread; keeps peaks.

    ``watch(name, pid)`` adds a process; ``peak_mb(name)`` is its highest RSS seen so far.
    """

    def __init__(self, every_s: float = 0.1) -> None:
        self._every_s = every_s
        self._procs: dict[str, psutil.Process] = {}
        self._peaks: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def watch(self, name: str, pid: int) -> None:
        with self._lock:
            self._procs[name] = psutil.Process(pid)
            self._peaks.setdefault(name, 0)
        self._sample()

    def current_mb(self, name: str) -> float:
        """The RSS of ``name`` now (0 if it has exited)."""
        with self._lock:
            proc = self._procs[name]
        try:
            return float(proc.memory_info().rss) / 2**20
        except psutil.Error:
            return 0.0

    def peak_mb(self, name: str) -> float:
        self._sample()
        with self._lock:
            return self._peaks.get(name, 0) / 2**20

    def _sample(self) -> None:
        with self._lock:
            for name, proc in self._procs.items():
                try:
                    rss = proc.memory_info().rss + sum(
                        child.memory_info().rss for child in proc.children(recursive=True)
                    )
                except psutil.Error:
                    continue  # exited: keep the peak seen
                if rss > self._peaks[name]:
                    self._peaks[name] = rss

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            self._sample()


def infra_pids(stack: Settings) -> dict[str, int]:
    """The pids of the stack's Kafka and ClickHouse (those running), to measure them too."""
    pids = {}
    for name, part in (("kafka", kafka_part), ("clickhouse", clickhouse_part)):
        pid = part.process(stack).pid()
        if pid:
            pids[name] = pid
    return pids


def tracer_heartbeat(state_dir: Path) -> int | None:
    """Scans a tracer worker has processed, from its heartbeat file (written every 5 s); None
    before the first one."""
    try:
        return int((state_dir / "run" / "tracer.heartbeat").read_text().split()[1])
    except (FileNotFoundError, IndexError, ValueError):
        return None


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class Report:
    """Readable lines as the run goes, then one JSON line of every figure at the end."""

    benchmark: str
    figures: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        load1, load5, _ = os.getloadavg()
        self.figures.update(
            benchmark=self.benchmark,
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            machine={
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "load_avg_1m_at_start": round(load1, 2),
                "load_avg_5m_at_start": round(load5, 2),
            },
        )

    def line(self, text: str) -> None:
        print(text, flush=True)

    def set(self, key: str, value: Any) -> None:
        self.figures[key] = value

    def finish(self) -> None:
        print(json.dumps(self.figures, sort_keys=False, default=str), flush=True)


def busy_processes(exclude: set[int] | None = None, threshold: float = 20.0) -> list[str]:
    """Other processes using a lot of CPU right now: they share the 2 cores with the benchmark."""
    exclude = exclude or set()
    procs = [p for p in psutil.process_iter(["pid", "name"]) if p.pid not in exclude]
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.cpu_percent(None)
    time.sleep(0.5)
    busy = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            used = proc.cpu_percent(None)
            if used >= threshold:
                busy.append(f"{proc.info['name']}[{proc.pid}] {used:.0f}%")
    return busy


class ServiceRun:
    """A project service run as ``python -m <module>`` with these settings, logging to a file."""

    def __init__(self, module: str, settings: Settings, log_path: Path) -> None:
        import subprocess
        import sys

        self.module = module
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("ab")
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module], cwd=REPO_ROOT,
            env={**os.environ, **settings_for(module, settings).as_env()},
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def wait_healthy(self, url: str, timeout_s: float = 60) -> None:
        """Wait for the service at ``url`` to answer ``/healthz``; raise if it exits first."""
        import httpx

        def healthy() -> bool:
            if not self.alive():
                raise RuntimeError(f"{self.module} exited:\n{self.log_tail()}")
            try:
                return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False  # not listening yet

        wait_until(healthy, timeout_s, f"{self.module} to answer /healthz")

    def stop(self, timeout_s: float = 20.0) -> None:
        import signal
        import subprocess

        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self._log.close()


def wait_until(condition: Callable[[], Any], timeout_s: float, what: str,
               every_s: float = 0.2) -> Any:
    """Poll ``condition`` until it returns something truthy; raise TimeoutError with ``what``."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = condition()
        except (OSError, RuntimeError, ValueError) as exc:  # still starting up
            last_error = exc
        else:
            if result:
                return result
        time.sleep(every_s)
    raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what} ({last_error!r})")
