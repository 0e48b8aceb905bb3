"""Case reported → every F1/F2 alert on the ``alerts`` topic, with a million visits stored.

``python -m bench.alerts`` (``make bench-alerts``):

1. loads ClickHouse with ``--visits`` visits (default 1,000,000) over two weeks of a city and the
   contacts they make (computed with the tracer's own overlap sweep), written straight into the
   ``visits`` and ``contacts`` tables as the tracer would (ClickHouse fills ``visits_by_person``);
2. starts one alerts worker and reports ``--cases`` cases one after another on the ``cases``
   topic, each as soon as the previous one's alerts are all on the topic;
3. prints the latency from producing a case to the last of its alerts on the ``alerts`` topic,
   p50 / p99 / max, and the number of alerts per case. Bar: p99 under 1 s;
4. with ``--retrace N``, writes N more open cases to ClickHouse's ``cases`` (what a worker
   leaves behind) and starts ``--workers`` alerts workers at once: the time until every open
   case is re-traced and its alerts published and stored ("cold": no alert stored yet), then,
   the workers restarted, the same again with every alert stored ("warm": a restart).

5. then declares ``--events`` venue exposure events (default 12) at the busiest venue, each a
   day's window with at least ``--min-visitors`` (1,000) visitors, one after another, and prints
   the latency from producing the declaration to the last of its alerts on the topic (bar: p99
   under 1 s).

``--realistic`` is the product's bar: 10 M visits stored in a dense city, cases of >= 300 F1 and
>= 3,000 F2 (``--min-f1``, ``--min-f2`` pick them).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import re
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime

from clickhouse_driver import Client
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from bench.alerts_city import person, plan, store
from bench.common import (
    BENCH_STATE_DIR,
    Report,
    ServiceRun,
    add_keep_options,
    bench_stack,
    cpu_seconds,
    drop_stores,
    infra_pids,
    isolated_stores,
    percentile,
)
from schemas.alerts import Alert as AlertMessage
from schemas.cases import CaseReported
from schemas.exposure_events import ExposureDeclared
from services.alerts.domain import Case, ContactEdge, trace_case
from services.alerts.domain.venue_events import VenueEvent, present
from services.alerts.domain.venue_events import Visit as EventVisit
from services.core.clickhouse import clickhouse_client, connection_options, utc, utc_day
from services.core.config import Settings
from services.core.kafka_connection import kafka_options
from services.tracer.domain.model import Visit
from services.tracer.domain.overlap import contacts_among
from truyvet.stack.lifecycle import isolated_copy

DAY = 86_400


def generate_visits(
    count: int, people: int, venues: int, days: int, end: int, seed: int
) -> list[Visit]:
    """Visits of a city: popularity Zipf-like (a few busy venues, most quiet); most visits are
    short errands, some are long stays (offices, schools) at quieter venues."""
    rng = random.Random(seed)
    weights = [1.0 / (rank + 1) ** 0.8 for rank in range(venues)]
    venue_of = rng.choices(range(venues), weights, k=count)
    busy = venues // 100
    start_day = end - days * DAY
    visits = []
    for i in range(count):
        begin = start_day + rng.randrange(days) * DAY + rng.randrange(7 * 3600, 21 * 3600)
        if venue_of[i] < busy:
            dwell = rng.choice((10, 15, 20, 30, 45)) * 60
        else:
            dwell = rng.choice((20, 30, 45, 60, 90, 240, 480)) * 60
        visits.append(
            Visit(f"venue-{venue_of[i]}", person(rng.randrange(people)), begin, begin + dwell)
        )
    return visits


def load(settings: Settings, visits: list[Visit], min_overlap: int, report: Report) -> list:
    began = time.monotonic()
    by_venue: dict[str, list[Visit]] = defaultdict(list)
    for v in visits:
        by_venue[v.venue_id].append(v)
    contacts = [c for group in by_venue.values() for c in contacts_among(group, min_overlap)]
    report.line(
        f"  {len(visits):,} visits make {len(contacts):,} contacts "
        f"({time.monotonic() - began:.1f} s)"
    )
    client = clickhouse_client(settings)
    began = time.monotonic()
    for i in range(0, len(visits), 200_000):
        client.execute(
            "INSERT INTO visits (day, venue_id, person_id, started_at, ended_at, visit_id,"
            " deleted, version) VALUES",
            [
                (utc_day(v.start), v.venue_id, v.person, utc(v.start), utc(v.end), v.visit_id, 0, 1)
                for v in visits[i : i + 200_000]
            ],
        )
    for i in range(0, len(contacts), 200_000):
        chunk = contacts[i : i + 200_000]
        client.execute(
            "INSERT INTO contacts (day, venue_id, started_at, ended_at, contact_id, person_a,"
            " person_b, deleted, version) VALUES",
            [
                (
                    utc_day(c.start),
                    c.venue_id,
                    utc(c.start),
                    utc(c.end),
                    c.contact_id,
                    c.person_a,
                    c.person_b,
                    0,
                    1,
                )
                for c in chunk
            ],
        )
    report.line(f"  loaded into ClickHouse in {time.monotonic() - began:.1f} s")
    return contacts


def exposure_events(visits: list[Visit], now: int, days: int, count: int,
                    min_visitors: int) -> list[tuple[VenueEvent, int]]:
    """Up to ``count`` events at the busiest venue, one a day (newest days first), each with
    its number of people present (its alerts), keeping those with ``min_visitors`` or more."""
    by_venue: dict[str, list[Visit]] = defaultdict(list)
    for v in visits:
        by_venue[v.venue_id].append(v)
    venue, at_venue = max(by_venue.items(), key=lambda kv: len(kv[1]))
    mine = [EventVisit(v.visit_id, v.venue_id, v.person, v.start, v.end) for v in at_venue]
    events = []
    today = now - now % DAY
    for back in range(days + 1):
        start = today - back * DAY
        event = VenueEvent(event_id=f"bench-ev-{back}", venue_id=venue, start=start,
                           end=min(start + DAY, now - 60), declared_at=now, action="test")
        if event.start >= event.end:
            continue
        visitors = len(present(event, mine))
        if visitors >= min_visitors:
            events.append((event, visitors))
        if len(events) == count + 1:  # the first one warms up
            break
    return events


def time_event(producer: KafkaProducer, consumer: KafkaConsumer, settings: Settings,
               worker: ServiceRun, event: VenueEvent, expected: int) -> float:
    """Declare ``event``; seconds until its ``expected`` alerts are all on the topic."""
    message = ExposureDeclared(event_id=event.event_id, venue_id=event.venue_id,
                               start=utc(event.start), end=utc(event.end),
                               declared_at=utc(event.declared_at), message="bench",
                               action="test")  # type: ignore[arg-type]
    sent = time.monotonic()
    producer.send(settings.topic("cases"), key=event.event_id.encode(),
                  value=message.model_dump_json().encode()).get(timeout=30)
    got: set[str] = set()
    while len(got) < expected:
        if time.monotonic() > sent + 60 or not worker.alive():
            raise TimeoutError(f"event {event.event_id}: {len(got)}/{expected} alerts"
                               f"\n{worker.log_tail()}")
        for records in consumer.poll(timeout_ms=50).values():
            for record in records:
                alert = AlertMessage.model_validate_json(record.value)
                if alert.case_id == event.event_id:
                    got.add(alert.alert_id)
    return time.monotonic() - sent


@contextlib.contextmanager
def stores(stack: Settings, database: str | None, keep_data: bool) -> Iterator[Settings]:
    """Fresh topics and database, or fresh topics on ``database``, a city stored before
    (``--keep-data``): its cases and alerts are emptied, its migrations brought up to date."""
    if database is None:
        with isolated_stores(stack, keep_data=keep_data) as settings:
            yield settings
        return
    tag = uuid.uuid4().hex[:10]
    state_dir = BENCH_STATE_DIR / "runs" / tag
    state_dir.mkdir(parents=True, exist_ok=True)
    settings = isolated_copy(stack, state_dir, topic_prefix=f"b{tag}-", database=database)
    client = clickhouse_client(settings)
    for table in ("cases", "alerts"):
        client.execute(f"TRUNCATE TABLE {table}")
    client.disconnect()
    try:
        yield settings
    finally:  # the topics and groups; the city's database stays
        drop_stores(settings.model_copy(update={"clickhouse_database": f"bench_{tag}"}))


def long_client(settings: Settings) -> Client:
    """A client for statements that run minutes (the services' give up after 60 s)."""
    return Client(**connection_options(settings), database=settings.clickhouse_database,
                  send_receive_timeout=3600, settings={"use_client_time_zone": False})


TOOK_OVER = re.compile(
    r"^(\S+ \S+) INFO services.alerts.worker.app: took over cases partitions \[([0-9, ]*)\]: "
    r"(\d+) open case")


def retrace(settings: Settings, cases: list[Case], workers: int, report: Report) -> None:
    """Time ``workers`` fresh alerts workers take to re-trace ``cases`` (stored open cases)."""
    client = clickhouse_client(settings)
    client.execute(
        "INSERT INTO cases (case_id, person_id, status, onset_at, sampled_at, reported_at,"
        " isolated_at, withdrawn_at, version) VALUES",
        [(c.case_id, c.person, "reported", utc(c.onset_at or 0), None, utc(c.reported_at), None,
          None, 1) for c in cases])
    for phase in ("cold", "warm"):
        began = time.time()
        runs = [ServiceRun("services.alerts.worker",
                           settings.model_copy(update={"state_dir": settings.state_dir / f"w{n}"}),
                           settings.state_dir / f"retrace-{phase}-{n}.log")
                for n in range(workers)]
        try:
            last = _all_taken_over(runs, settings.cases_partitions, timeout_s=1800)
        finally:
            for run in runs:
                run.stop()
        seconds = last - began
        report.line(f"  re-trace of {len(cases):,} open cases by {workers} worker(s), {phase}: "
                    f"{seconds:.1f} s")
        report.set(f"retrace_{phase}_s", round(seconds, 1))
    report.set("retrace_cases", len(cases))
    report.set("retrace_workers", workers)


def _all_taken_over(runs: list[ServiceRun], partitions: int, timeout_s: float) -> float:
    """Wall-clock time of the takeover that completed the cover of every cases partition by
    the workers' latest takeovers, once the cover holds for 5 s (the group settled)."""
    deadline = time.monotonic() + timeout_s
    settled_since, answer = None, None
    while time.monotonic() < deadline:
        latest: dict[int, tuple[float, set[int]]] = {}
        for n, run in enumerate(runs):
            if not run.alive():
                raise RuntimeError(f"alerts worker exited:\n{run.log_tail()}")
            held: set[int] = set()
            at = 0.0
            for line in run.log_path.read_text(errors="replace").splitlines():
                m = TOOK_OVER.match(line)
                if m:
                    held |= {int(p) for p in m.group(2).split(",") if p.strip()}
                    at = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").replace(
                        tzinfo=UTC).timestamp()
            latest[n] = (at, held)
        covered = set().union(*(h for _, h in latest.values()))
        if covered >= set(range(partitions)):
            done_at = max(at for at, _ in latest.values())
            if answer != done_at:
                answer, settled_since = done_at, time.monotonic()
            elif settled_since is not None and time.monotonic() - settled_since > 5:
                return answer
        time.sleep(0.5)
    raise TimeoutError("the alerts workers did not take over every cases partition")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--visits", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=200_000)
    parser.add_argument("--venues", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--retrace", type=int, default=0, metavar="N",
                        help="then time the re-trace of N more open cases after a restart")
    parser.add_argument("--workers", type=int, default=1, help="alerts workers for --retrace")
    parser.add_argument("--min-f1", type=int, default=0, help="only cases with this many F1")
    parser.add_argument("--min-f2", type=int, default=0, help="only cases with this many F2")
    parser.add_argument("--events", type=int, default=12,
                        help="venue exposure events to time at the busiest venue")
    parser.add_argument("--min-visitors", type=int, default=1000,
                        help="least visitors in an exposure event's window")
    parser.add_argument("--realistic", action="store_true",
                        help="10 M visits in a dense city, cases of >= 300 F1 and >= 3,000 F2")
    parser.add_argument("--database", metavar="NAME",
                        help="with --realistic: the city stored by an earlier --keep-data run "
                        "of the same --seed on the same UTC day (its database name)")
    add_keep_options(parser)
    args = parser.parse_args()
    if args.realistic:
        # A dense city (bench/alerts_city.py): 10 M visits of 400 k people at 20 k venues over
        # 14 days, so a person out all day meets hundreds and their contacts thousands.
        args.visits, args.people, args.venues = 10_000_000, 400_000, 20_000
        args.min_f1, args.min_f2 = max(args.min_f1, 300), max(args.min_f2, 3000)
    report = Report("alerts")
    report.line(f"alerts benchmark: {args.visits:,} visits, {args.cases} cases")
    now = int(time.time())
    with bench_stack(keep=args.keep_stack) as stack, \
            stores(stack, args.database, args.keep_data) as settings:
        report.set("database", settings.clickhouse_database)
        if args.realistic:
            began = time.monotonic()
            city = plan(args.visits, args.people, args.venues, args.days, now - 3600, args.seed)
            report.line(f"  city planned in {time.monotonic() - began:.1f} s")
            if args.database is None:
                store(long_client(settings), city, report.line)
            visit_count, contact_count = city.visits, city.contacts
            edges_of = city.edges_of
            # The people out all day: only they meet hundreds.
            connected = [person(i) for i in city.persons_by_activity()[: args.people // 500]]
            events: list[tuple[VenueEvent, int]] = []  # timed on the generated city only
        else:
            visits = generate_visits(
                args.visits, args.people, args.venues, args.days, now - 3600, args.seed
            )
            contacts = load(settings, visits, settings.min_overlap_s, report)
            visit_count, contact_count = len(visits), len(contacts)
            edges_by_person: dict[str, list[ContactEdge]] = defaultdict(list)
            for c in contacts:
                edge = ContactEdge(c.contact_id, c.venue_id, c.person_a, c.person_b, c.start,
                                   c.end)
                edges_by_person[c.person_a].append(edge)
                edges_by_person[c.person_b].append(edge)

            def edges_of(persons: set[str], since: int, until: int) -> list[ContactEdge]:
                return [e for p in persons for e in edges_by_person.get(p, ())]

            connected = sorted(p for p, es in edges_by_person.items() if len(es) >= 3)
            events = exposure_events(visits, now, args.days, args.events, args.min_visitors)
            del visits, contacts

        rng = random.Random(args.seed)
        rng.shuffle(connected)
        cases: list[tuple[Case, int, int]] = []
        began = time.monotonic()
        for f0 in connected:
            if len(cases) == args.cases:
                break
            case = Case(case_id=f"bench-{len(cases)}", person=f0, onset_at=now - 5 * DAY,
                        reported_at=now - 60)
            alerts = trace_case(case, edges_of, settings.max_degree)
            f1 = sum(1 for a in alerts if a.degree == 1)
            if f1 >= args.min_f1 and len(alerts) - f1 >= args.min_f2:
                cases.append((case, len(alerts), f1))
        report.line(f"  cases chosen in {time.monotonic() - began:.1f} s")
        report.line(f"  {len(cases)} cases, {sum(n for _, n, _ in cases):,} alerts expected, "
                    f"F1 {min(f for *_, f in cases)}-{max(f for *_, f in cases)}, F2 "
                    f"{min(n - f for _, n, f in cases)}-{max(n - f for _, n, f in cases)}")
        report.set("alerts_per_case_max", max(n for _, n, _ in cases))
        report.set("f1_per_case_min", min(f for *_, f in cases))
        report.set("f2_per_case_min", min(n - f for _, n, f in cases))

        worker = ServiceRun(
            "services.alerts.worker", settings, settings.state_dir / "alerts-worker.log"
        )
        consumer = KafkaConsumer(
            **kafka_options(settings),
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        producer = KafkaProducer(
            **kafka_options(settings), acks="all", linger_ms=0
        )
        try:
            topic = settings.topic("alerts")
            tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
            consumer.assign(tps)
            consumer.seek_to_end(*tps)
            # A first case warms the worker up (group join, ClickHouse connection).
            latencies: list[float] = []
            clickhouse_pid = infra_pids(stack)["clickhouse"]
            cpu_at: dict[str, float] = {}
            seen_total = 0
            for index, (case, expected, _) in enumerate(cases):
                message = CaseReported(
                    case_id=case.case_id,
                    person_id=case.person,
                    onset_at=utc(case.onset_at or 0),
                    reported_at=utc(case.reported_at),
                )
                sent = time.monotonic()
                producer.send(
                    settings.topic("cases"),
                    key=case.case_id.encode(),
                    value=message.model_dump_json().encode(),
                ).get(timeout=30)
                got: set[str] = set()
                deadline = sent + (120 if index == 0 else 30)
                while len(got) < expected:
                    if time.monotonic() > deadline or not worker.alive():
                        raise TimeoutError(
                            f"case {case.case_id}: {len(got)}/{expected} alerts"
                            f"\n{worker.log_tail()}"
                        )
                    for records in consumer.poll(timeout_ms=50).values():
                        for record in records:
                            alert = AlertMessage.model_validate_json(record.value)
                            if alert.case_id == case.case_id:
                                got.add(alert.alert_id)
                last = time.monotonic()
                seen_total += len(got)
                if index > 0:
                    latencies.append(last - sent)
                if index == 0:  # CPU from the end of the warm-up case on
                    cpu_at = {"worker": cpu_seconds(worker.pid),
                              "clickhouse": cpu_seconds(clickhouse_pid)}
            cpu = {"worker": cpu_seconds(worker.pid) - cpu_at["worker"],
                   "clickhouse": cpu_seconds(clickhouse_pid) - cpu_at["clickhouse"]}
            # The first warms up (its venue's parts in ClickHouse's caches), like the first case.
            event_latencies = [time_event(producer, consumer, settings, worker, event, n)
                               for event, n in events[:1]]
            cpu_before, wall_before = cpu_seconds(worker.pid), time.monotonic()
            event_latencies = [time_event(producer, consumer, settings, worker, event, n)
                               for event, n in events[1:]]
            event_cpu = cpu_seconds(worker.pid) - cpu_before
            event_wall = time.monotonic() - wall_before
        finally:
            producer.close()
            consumer.close()
            worker.stop()
        p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
        report.line(
            f"  case → last alert: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
            f"max {max(latencies) * 1000:.0f} ms over {len(latencies)} cases "
            f"({seen_total:,} alerts)"
        )
        report.line(f"  bar: p99 < 1000 ms — {'met' if p99 < 1.0 else 'NOT met'}")
        report.line(f"  CPU over the timed cases: worker {cpu['worker']:.1f} s, ClickHouse "
                    f"{cpu['clickhouse']:.1f} s ({cpu['worker'] / len(latencies) * 1000:.0f} / "
                    f"{cpu['clickhouse'] / len(latencies) * 1000:.0f} ms a case)")
        report.set("worker_cpu_s", round(cpu["worker"], 2))
        report.set("clickhouse_cpu_s", round(cpu["clickhouse"], 2))
        report.set("visits", visit_count)
        report.set("contacts", contact_count)
        report.set("cases", len(latencies))
        report.set("alerts", seen_total)
        report.set("latency_p50_ms", round(p50 * 1000, 1))
        report.set("latency_p99_ms", round(p99 * 1000, 1))
        report.set("latency_max_ms", round(max(latencies) * 1000, 1))
        report.set("bar_p99_under_1s", p99 < 1.0)
        if event_latencies:
            e50, e99 = percentile(event_latencies, 50), percentile(event_latencies, 99)
            visitors = min(n for _, n in events[1:])
            report.line(
                f"  exposure event at the busiest venue (>= {visitors:,} visitors in its window)"
                f" → last alert: p50 {e50 * 1000:.0f} ms, p99 {e99 * 1000:.0f} ms, max "
                f"{max(event_latencies) * 1000:.0f} ms over {len(event_latencies)} events")
            report.line(f"  bar: p99 < 1000 ms — {'met' if e99 < 1.0 else 'NOT met'}")
            report.line(f"  alerts worker CPU over the events: {event_cpu:.2f} s in "
                        f"{event_wall:.1f} s wall")
            report.set("event_worker_cpu_s", round(event_cpu, 2))
            report.set("event_visitors_min", visitors)
            report.set("event_latency_p50_ms", round(e50 * 1000, 1))
            report.set("event_latency_p99_ms", round(e99 * 1000, 1))
            report.set("event_bar_p99_under_1s", e99 < 1.0)
        if args.retrace:
            f0s = rng.sample(connected, k=min(args.retrace, len(connected)))
            retrace(settings, [Case(case_id=f"open-{i}", person=f0, onset_at=now - 5 * DAY,
                                    reported_at=now - 60) for i, f0 in enumerate(f0s)],
                    args.workers, report)
        report.set("measured_at", datetime.now(UTC).isoformat(timespec="seconds"))
    report.finish()


if __name__ == "__main__":
    main()
