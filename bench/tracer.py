"""Tracer throughput through real Kafka and ClickHouse: ``python -m bench.tracer``.

1. A city's day of scans (default ~400k) is cut into ``scans`` messages as ingest makes them
   (one venue per message, a few hundred to 2,000 scans) and produced to a fresh topic; the
   venues are registered.
2. Bare consumer: a plain aiokafka ``getmany`` loop that reads the same topic and decodes every
   value with ``json.loads`` (no processing) - the ceiling Python and this broker allow.
3. One tracer worker (``python -m services.tracer``, a real subprocess) from a fresh consumer
   group, until the group has committed the end of every partition. Everything a worker writes
   (ClickHouse rows, contacts, changelog) is acknowledged before it commits, so "committed" means
   processed and stored. Sustained scans/s is measured from the first commit to the last one,
   which leaves out the worker's start-up; contacts and visits stored are counted afterwards.
4. Two workers in one consumer group on a second fresh copy of the topic: combined scans/s.

Everything runs on this machine's cores, broker and ClickHouse included: read the CPU shares.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from kafka import KafkaConsumer
from kafka import TopicPartition as SyncTopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import KafkaError

from bench.common import (
    CityDay,
    PeakRss,
    Pseudonyms,
    Report,
    ScanRow,
    ServiceRun,
    add_keep_options,
    bench_stack,
    busy_processes,
    city_day,
    cpu_seconds,
    infra_pids,
    isolated_stores,
    tracer_heartbeat,
)
from services.core.clickhouse import clickhouse_client
from services.core.config import Settings
from services.core.kafka_connection import kafka_options
from services.core.registry_log import publish_records_blocking

MAX_MESSAGE_BYTES = 8 * 1024 * 1024


@dataclass
class Loaded:
    """What is on the ``scans`` topic: per partition, message offsets and scans below each."""

    messages: int = 0
    scans: int = 0
    bytes: int = 0
    offsets: dict[int, list[int]] = field(default_factory=dict)
    scans_below: dict[int, list[int]] = field(default_factory=dict)  # cumulative, same index

    def end_offsets(self) -> dict[int, int]:
        return {p: offsets[-1] + 1 for p, offsets in self.offsets.items()}

    def scans_before(self, committed: dict[int, int]) -> int:
        """Scans in messages below each partition's committed offset."""
        done = 0
        for partition, offset in committed.items():
            offsets = self.offsets.get(partition)
            if offsets:
                done += self.scans_below[partition][bisect.bisect_left(offsets, offset)]
        return done


def encode_messages(day: CityDay, settings: Settings, low: int, high: int
                    ) -> list[tuple[bytes, bytes, int]]:
    """(key, value, scans) of every ``scans`` message, values exactly as ingest encodes them."""
    from bench.common import scan_batch

    pseudonym = Pseudonyms(settings)
    ingested_at = datetime.fromtimestamp(day.now, UTC).replace(microsecond=0)
    return [
        (venue_id.encode(), scan_batch(venue_id, rows, pseudonym, ingested_at)
         .model_dump_json().encode(), len(rows))
        for venue_id, rows in day.batches(low=low, high=high)
    ]


async def _produce(settings: Settings, messages: Sequence[tuple[bytes, bytes, int]]) -> Loaded:
    producer = AIOKafkaProducer(
        **kafka_options(settings), acks="all", enable_idempotence=True,
        linger_ms=5, max_request_size=MAX_MESSAGE_BYTES, max_batch_size=1024 * 1024,
    )
    await producer.start()
    try:
        topic = settings.topic("scans")
        futures = [await producer.send(topic, value=value, key=key) for key, value, _ in messages]
        metadata = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    loaded = Loaded()
    placed: dict[int, list[tuple[int, int]]] = {}
    for (_, value, count), meta in zip(messages, metadata, strict=True):
        placed.setdefault(meta.partition, []).append((meta.offset, count))
        loaded.messages += 1
        loaded.scans += count
        loaded.bytes += len(value)
    for partition, items in placed.items():
        items.sort()
        loaded.offsets[partition] = [offset for offset, _ in items]
        running, below = 0, []
        for _, count in items:
            below.append(running)
            running += count
        below.append(running)
        loaded.scans_below[partition] = below
    return loaded


def preload(settings: Settings, day: CityDay, messages: Sequence[tuple[bytes, bytes, int]]
            ) -> Loaded:
    publish_records_blocking(settings, list(day.venue_records(settings)))
    return asyncio.run(_produce(settings, messages))


# ------------------------------------------------------------------------------ bare consumer


async def _bare_pass(settings: Settings, loaded: Loaded) -> tuple[float, int, int]:
    consumer = AIOKafkaConsumer(
        **kafka_options(settings), enable_auto_commit=False,
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES, fetch_max_bytes=64 * 1024 * 1024,
    )
    await consumer.start()
    try:
        topic = settings.topic("scans")
        tps = [TopicPartition(topic, p) for p in sorted(loaded.offsets)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = {TopicPartition(topic, p): o for p, o in loaded.end_offsets().items()}
        messages = scans = 0
        began = time.perf_counter()
        while messages < loaded.messages:
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    scans += len(json.loads(record.value)["scans"])
                    messages += 1
        elapsed = time.perf_counter() - began
        assert all([await consumer.position(tp) >= o for tp, o in end.items()])
        return elapsed, messages, scans
    finally:
        await consumer.stop()


def bare_consumer(settings: Settings, loaded: Loaded, passes: int) -> dict[str, Any]:
    runs = [asyncio.run(_bare_pass(settings, loaded)) for _ in range(passes)]
    elapsed = sorted(r[0] for r in runs)[len(runs) // 2]  # the median pass
    _, messages, scans = runs[0]
    return {
        "passes": passes,
        "seconds": round(elapsed, 3),
        "msgs_per_s": round(messages / elapsed),
        "scans_per_s": round(scans / elapsed),
    }


# ------------------------------------------------------------------------------ tracer workers


def _committed(admin: KafkaAdminClient, group: str, topic: str) -> dict[int, int]:
    try:
        offsets = admin.list_group_offsets({group: None}).get(group, {})
    except KafkaError:  # the group (or its coordinator) does not exist until the worker joins
        return {}
    return {tp.partition: meta.offset for tp, meta in offsets.items()
            if tp.topic == topic and meta.offset >= 0}


def _group_ready(admin: KafkaAdminClient, group: str, members: int) -> bool:
    """Whether the group is stable with ``members`` members (partitions assigned)."""
    try:
        described = admin.describe_groups([group]).get(group, {})
    except KafkaError:
        return False
    return bool(described.get("group_state") == "Stable"
                and len(described.get("members") or ()) == members)


def run_workers(stack: Settings, settings: Settings, loaded: Loaded, workers: int,
                timeout_s: float, stagger_s: float = 0.0) -> dict[str, Any]:
    """Start ``workers`` tracer processes in one group (``stagger_s`` apart); wait until every
    message is committed."""
    topic = settings.topic("scans")
    group = f"{settings.topic_prefix}truyvet-tracer"
    end = loaded.end_offsets()
    admin = KafkaAdminClient(**kafka_options(settings))
    infra = infra_pids(stack)
    infra_cpu0 = {name: cpu_seconds(pid) for name, pid in infra.items()}
    total_cpu0 = psutil.cpu_times()
    runs: list[ServiceRun] = []
    samples: list[tuple[float, int]] = []
    with PeakRss() as rss:
        try:
            began = time.monotonic()
            for n in range(workers):
                if n and stagger_s:
                    time.sleep(stagger_s)  # joins while the others work: a rebalance mid-stream
                worker_settings = settings.model_copy(
                    update={"state_dir": settings.state_dir / f"worker-{n}"})
                run = ServiceRun("services.tracer", worker_settings,
                                 worker_settings.state_dir / "tracer.log")
                runs.append(run)
                rss.watch(f"worker-{n}", run.pid)
            deadline = began + timeout_s
            ready: tuple[float, int] | None = None
            rss_ready = [0.0] * workers
            while True:
                for run in runs:
                    if not run.alive():
                        raise RuntimeError(f"a tracer worker exited:\n{run.log_tail()}")
                if ready is None and _group_ready(admin, group, workers):
                    ready = time.monotonic(), loaded.scans_before(_committed(admin, group, topic))
                    rss_ready = [rss.current_mb(f"worker-{n}") for n in range(workers)]
                committed = _committed(admin, group, topic)
                now = time.monotonic()
                done = loaded.scans_before(committed)
                if not samples or done != samples[-1][1]:
                    samples.append((now, done))
                if all(committed.get(p, 0) >= o for p, o in end.items()):
                    break
                if now > deadline:
                    raise TimeoutError(
                        f"{done:,} of {loaded.scans:,} scans committed after {timeout_s:.0f} s")
                time.sleep(0.2)
            finished = time.monotonic()
            worker_cpu = [cpu_seconds(run.pid) for run in runs]
            infra_cpu = {name: cpu_seconds(pid) - infra_cpu0[name] for name, pid in infra.items()}
            total_cpu1 = psutil.cpu_times()
            peaks = [round(rss.peak_mb(f"worker-{n}"), 1) for n in range(workers)]
            rss_end = [round(rss.current_mb(f"worker-{n}"), 1) for n in range(workers)]
            heartbeats = [tracer_heartbeat(settings.state_dir / f"worker-{n}")
                          for n in range(workers)]
        finally:
            for run in runs:
                run.stop()
            admin.close()
    first_t, first_done = next((t, d) for t, d in samples if d > 0)
    ready_t, ready_done = ready if ready is not None else (began, 0)
    sustained = (loaded.scans - ready_done) / max(finished - ready_t, 1e-9)
    wall = finished - began
    busy = sum(getattr(total_cpu1, f) - getattr(total_cpu0, f)
               for f in ("user", "system", "nice", "irq", "softirq"))
    return {
        "workers": workers,
        "topic_prefix": settings.topic_prefix,
        "clickhouse_database": settings.clickhouse_database,
        "scans_per_s": round(sustained),
        "scans_per_s_per_worker": round(sustained / workers),
        "scans_per_s_first_to_last_commit": round(
            (loaded.scans - first_done) / max(finished - first_t, 1e-9)),
        "scans_per_s_10_to_90_pct": _middle_rate(samples, loaded.scans),
        "scans_per_s_incl_startup": round(loaded.scans / wall),
        "seconds_ready_to_last_commit": round(finished - ready_t, 2),
        "seconds_start_to_ready": round(ready_t - began, 2),
        "seconds_start_to_first_commit": round(first_t - began, 2),
        "worker_cpu_s": [round(c, 1) for c in worker_cpu],
        "scans_per_worker_cpu_s": round(loaded.scans / max(sum(worker_cpu), 1e-9)),
        "infra_cpu_s": {name: round(c, 1) for name, c in infra_cpu.items()},
        "machine_busy_cpu_s": round(busy, 1),
        "machine_cpu_s_available": round(wall * (psutil.cpu_count() or 1), 1),
        "peak_rss_mb": peaks,
        "rss_at_ready_mb": [round(m, 1) for m in rss_ready],
        "rss_at_end_mb": rss_end,
        "heartbeat_scans": heartbeats,
    }


def _middle_rate(samples: list[tuple[float, int]], total: int) -> int | None:
    """Scans/s between the samples where 10 % and 90 % of the scans were committed, or None
    when one commit took both (a run too small to tell)."""
    low = next(((t, d) for t, d in samples if d >= total * 0.1), None)
    high = next(((t, d) for t, d in samples if d >= total * 0.9), None)
    if low is None or high is None or high[0] <= low[0]:
        return None
    return round((high[1] - low[1]) / (high[0] - low[0]))


def stored_counts(settings: Settings) -> dict[str, int]:
    """Rows in ClickHouse (as a reader sees them) and messages on the output topics."""
    client = clickhouse_client(settings)
    try:
        def count(query: str) -> int:
            return int(client.execute(query)[0][0])

        counts = {
            "scans_stored": count("SELECT count() FROM scans FINAL"),
            "visits_stored": count("SELECT count() FROM visits FINAL WHERE deleted = 0"),
            "contacts_stored": count("SELECT count() FROM contacts FINAL WHERE deleted = 0"),
            "visits_by_person_stored": count(
                "SELECT count() FROM visits_by_person FINAL WHERE deleted = 0"),
        }
    finally:
        client.disconnect()
    consumer = KafkaConsumer(**kafka_options(settings))
    try:
        for name, figure in (("contacts", "contacts_messages"), ("dead-letter", "dead_letters")):
            topic = settings.topic(name)
            tps = [SyncTopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            counts[figure] = sum(consumer.end_offsets(tps).values())
    finally:
        consumer.close()
    return counts


def reference_counts(day: CityDay, messages: Sequence[tuple[str, Sequence[ScanRow]]],
                     settings: Settings) -> dict[str, int]:
    """Visits and contacts the pure domain derives from the same scans (order does not matter)."""
    from services.tracer.domain.model import Scan, VenueRules
    from services.tracer.domain.state import TracerState

    pseudonym = Pseudonyms(settings)
    rules = {v.venue_id: VenueRules(settings.default_dwell_s, settings.max_dwell_s,
                                    v.min_overlap_s or settings.min_overlap_s)
             for v in day.venues}
    state = TracerState()
    for venue_id, rows in messages:
        state.apply([Scan(e, venue_id, pseudonym(p), d, at) for e, p, d, at in rows], rules)
    return {"visits": len(state.visits()), "contacts": len(state.contacts())}


# ------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=400_000, help="scans in the city's day")
    parser.add_argument("--crowding", type=float, default=1.0,
                        help="venue size factor: contacts per scan grow with it")
    parser.add_argument("--min-batch", type=int, default=300, help="fewest scans per message")
    parser.add_argument("--max-batch", type=int, default=2_000, help="most scans per message")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bare-passes", type=int, default=3)
    parser.add_argument("--no-two", action="store_true", help="skip the two-worker run")
    parser.add_argument("--stagger", type=float, default=0.0,
                        help="seconds between starting the two workers (a rebalance mid-stream)")
    parser.add_argument("--no-verify", action="store_true",
                        help="skip comparing stored counts with the pure domain's")
    parser.add_argument("--timeout", type=float, default=900.0, help="per worker run, seconds")
    add_keep_options(parser)
    args = parser.parse_args()

    report = Report("tracer")
    began = time.monotonic()
    day = city_day(args.scans, crowding=args.crowding, seed=args.seed)
    batches = day.batches(low=args.min_batch, high=args.max_batch)
    report.line(f"city: {day.scan_count:,} scans of {day.visits:,} visits at {len(day.venues):,}"
                f" venues, {len(batches):,} messages "
                f"({day.scan_count / len(batches):,.0f} scans/message), generated in "
                f"{time.monotonic() - began:.1f} s")
    report.set("workload", {
        "scans": day.scan_count, "visits": day.visits, "venues": len(day.venues),
        "messages": len(batches), "crowding": args.crowding,
        "scans_per_message_range": [args.min_batch, args.max_batch],
    })
    with bench_stack(keep=args.keep_stack) as stack:
        others = busy_processes()
        if others:
            report.line(f"note: other busy processes share the CPUs: {', '.join(others)}")
        report.set("busy_processes_at_start", others)
        with isolated_stores(stack, keep_data=args.keep_data) as one:
            messages = encode_messages(day, one, args.min_batch, args.max_batch)
            loaded = preload(one, day, messages)
            report.line(f"preloaded {loaded.messages:,} messages, {loaded.scans:,} scans, "
                        f"{loaded.bytes / 2**20:,.0f} MiB into {len(loaded.offsets)} partitions")
            bare = bare_consumer(one, loaded, args.bare_passes)
            report.set("bare_consumer", bare)
            report.line(f"bare consumer (getmany + json.loads): {bare['msgs_per_s']:,} msgs/s = "
                        f"{bare['scans_per_s']:,} scans/s (median of {bare['passes']} passes)")
            single = run_workers(stack, one, loaded, 1, args.timeout)
            single.update(stored_counts(one))
            report.set("one_worker", single)
            _print_run(report, single)
            ratio = single["scans_per_s"] / bare["scans_per_s"]
            report.set("ratio_tracer_to_bare", round(ratio, 4))
            report.line(f"ratio tracer / bare consumer: {ratio:.3f} "
                        f"(goal 0.1; bar 50,000 scans/s per worker)")
        if not args.no_two:
            with isolated_stores(stack, keep_data=args.keep_data) as two:
                preload(two, day, encode_messages(day, two, args.min_batch, args.max_batch))
                double = run_workers(stack, two, loaded, 2, args.timeout, args.stagger)
                double.update(stored_counts(two))
                report.set("two_workers", double)
                _print_run(report, double)
                report.line(f"scale-out: two workers / one = "
                            f"{double['scans_per_s'] / single['scans_per_s']:.2f}")
    if not args.no_verify:
        reference = reference_counts(day, batches, one)
        report.set("reference", reference)
        runs = {"one worker": single} if args.no_two else {"one worker": single,
                                                            "two workers": double}
        for name, run in runs.items():
            matches = (reference["visits"] == run["visits_stored"]
                       and reference["contacts"] == run["contacts_stored"])
            run["stored_equals_reference"] = matches
            report.line(f"check ({name}): the pure domain gives {reference['visits']:,} visits, "
                        f"{reference['contacts']:,} contacts; stored "
                        f"{run['visits_stored']:,} and {run['contacts_stored']:,} -> "
                        f"{'match' if matches else 'MISMATCH'}")
    report.finish()


def _print_run(report: Report, run: dict[str, Any]) -> None:
    n, middle = run["workers"], run["scans_per_s_10_to_90_pct"]
    report.line(
        f"{n} tracer worker{'s' if n > 1 else ''}: {run['scans_per_s']:,} scans/s sustained "
        f"({run['scans_per_s_per_worker']:,}/worker) over {run['seconds_ready_to_last_commit']} s "
        f"from the group being ready (after {run['seconds_start_to_ready']} s) to the last commit;"
        f" 10-90 %: {'-' if middle is None else f'{middle:,}'}/s; incl. start-up: "
        f"{run['scans_per_s_incl_startup']:,}/s; peak RSS "
        f"{' + '.join(f'{m:,.0f}' for m in run['peak_rss_mb'])} MiB (at start "
        f"{' + '.join(f'{m:,.0f}' for m in run['rss_at_ready_mb'])}, at the end "
        f"{' + '.join(f'{m:,.0f}' for m in run['rss_at_end_mb'])})"
    )
    report.line(
        f"  stored: {run.get('visits_stored', 0):,} visits, {run.get('contacts_stored', 0):,} "
        f"contacts ({run.get('contacts_messages', 0):,} contacts messages, "
        f"{run.get('dead_letters', 0)} dead letters); CPU s: workers {run['worker_cpu_s']}, "
        f"{', '.join(f'{k} {v}' for k, v in run['infra_cpu_s'].items())}, machine busy "
        f"{run['machine_busy_cpu_s']} of {run['machine_cpu_s_available']}"
    )


if __name__ == "__main__":
    main()
