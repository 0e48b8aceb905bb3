"""The tracer's hot window: ``python -m bench.tracer_window``.

1. Memory per held scan: a fresh process traces a city's day (0.4 M and 2 M scans by default)
   with the worker's :class:`TracerCore`; the RSS it gains, over the scans its state then holds.
2. Restore: the same messages rebuilt into a state of one partition (decode + apply, as a
   worker that gains a partition does after reading them from ``scans``); scans/s, and the time
   for a partition holding a full hot window of that city.
3. Late (cold) scans: a city's day is traced into ClickHouse but for 5 % of its messages (gates
   that were offline); the state then lets go of everything, and those messages are traced
   against ClickHouse, as an upload days late would be. Late scans/s, wall and CPU, and a check
   that ClickHouse then holds exactly what the whole day gives.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from typing import Any

import psutil

from bench.common import Pseudonyms, Report, bench_stack, city_day, isolated_stores, scan_batch
from services.core.clickhouse import clickhouse_client
from services.core.config import Settings
from services.tracer.domain.model import VenueRules
from services.tracer.history import ClickHouseHistory
from services.tracer.memory import release_free_memory
from services.tracer.processor import SourceMessage, TracerCore
from services.tracer.sink import ClickHouseSink

RULES = VenueRules()


def city_messages(scans: int, settings: Settings, seed: int = 1) -> list[SourceMessage]:
    day = city_day(scans, seed=seed)
    pseudonym = Pseudonyms(settings)
    ingested_at = datetime.fromtimestamp(day.now, UTC).replace(microsecond=0)
    return [SourceMessage("scans", 0, offset, venue_id.encode(),
                          scan_batch(venue_id, rows, pseudonym, ingested_at)
                          .model_dump_json().encode())
            for offset, (venue_id, rows) in enumerate(day.batches(low=300, high=2_000))]


def _rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


def held_memory(scans: int) -> dict[str, Any]:
    """In this process: the state's memory per held scan, and the restore rate."""
    messages = city_messages(scans, Settings())
    before = _rss()
    core = TracerCore(lambda venue: RULES)
    pending = messages
    while pending:  # in parts, as the worker goes: their rows are garbage once written
        _, done = core.process(pending[:16])
        pending = pending[done:]
    held = core.held_scans()
    grown_with_garbage = _rss() - before
    release_free_memory()  # as the worker's collection timer does every two minutes
    grown = _rss() - before
    del core
    gc.collect()
    started, cpu = time.monotonic(), time.process_time()
    restored = TracerCore(lambda venue: RULES)
    count = restored.restore(0, messages, None, None)
    seconds, cpu_s = time.monotonic() - started, time.process_time() - cpu
    return {"held_scans": held, "rss_grown_mb": round(grown / 2**20, 1),
            "bytes_per_held_scan": round(grown / held),
            "bytes_per_held_scan_before_trim": round(grown_with_garbage / held),
            "restore_scans": count,
            "restore_s": round(seconds, 2), "restore_cpu_s": round(cpu_s, 2),
            "restore_scans_per_s": round(count / seconds)}


def late_scans(stack: Settings, scans: int, late_share: float) -> dict[str, Any]:
    """Trace a day into ClickHouse but for ``late_share`` of its messages, then those late."""
    with isolated_stores(stack) as settings:
        messages = city_messages(scans, settings, seed=2)
        rng = random.Random(5)
        late_offsets = set(rng.sample(range(len(messages)), k=int(len(messages) * late_share)))
        on_time = [m for m in messages if m.offset not in late_offsets]
        late = [m for m in messages if m.offset in late_offsets]
        core, sink = TracerCore(lambda venue: RULES), ClickHouseSink(settings)
        history = ClickHouseHistory(settings)
        try:
            pending = on_time
            while pending:
                out, done = core.process(pending[:64])
                sink.write(out.rows)
                pending = pending[done:]
            core.evict_before(int(time.time()) + 86_400)  # nothing held: every scan is late
            started, cpu = time.monotonic(), time.process_time()
            late_count = 0
            for message in late:
                out = core.process_late(message, history)
                sink.write(out.rows)
                late_count += out.scans_seen
            seconds, cpu_s = time.monotonic() - started, time.process_time() - cpu
            whole = TracerCore(lambda venue: RULES)
            pending = messages
            while pending:
                out, done = whole.process(pending)
                pending = pending[done:]
            state = whole.partition_state(0)
            visits, contacts = len(state.visits()), len(state.contacts())
            client = clickhouse_client(settings)
            stored_visits = client.execute(
                "SELECT count() FROM (SELECT deleted FROM visits FINAL) WHERE deleted = 0")[0][0]
            stored_contacts = client.execute(
                "SELECT count() FROM (SELECT deleted FROM contacts FINAL) WHERE deleted = 0")[0][0]
            client.disconnect()
        finally:
            sink.close()
            history.close()
    return {"late_messages": len(late), "late_scans": late_count, "seconds": round(seconds, 2),
            "main_process_cpu_s": round(cpu_s, 2),
            "late_scans_per_s": round(late_count / seconds),
            "late_scans_per_cpu_s": round(late_count / cpu_s) if cpu_s else None,
            "stored_equals_whole_day": (stored_visits, stored_contacts) == (visits, contacts),
            "visits": visits, "contacts": contacts}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held", type=int, nargs="*", default=[400_000, 2_000_000],
                        help="scans of the cities whose held memory is measured")
    parser.add_argument("--late-city", type=int, default=200_000, help="scans of the late run")
    parser.add_argument("--late-share", type=float, default=0.05)
    parser.add_argument("--hot-hours", type=int, default=Settings().tracer_hot_hours)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child measuring one size
    args = parser.parse_args()
    if args.one:
        print(json.dumps(held_memory(args.one)), flush=True)
        return
    report = Report("tracer_window")
    memory = []
    for scans in args.held:
        child = subprocess.run([sys.executable, "-m", "bench.tracer_window", "--one", str(scans)],
                               check=True, capture_output=True, text=True)
        figures = json.loads(child.stdout.strip().splitlines()[-1])
        memory.append(figures)
        report.line(f"{figures['held_scans']:,} held scans: RSS +{figures['rss_grown_mb']:,} MiB"
                    f" = {figures['bytes_per_held_scan']:,} bytes per held scan (bar 150; "
                    f"{figures['bytes_per_held_scan_before_trim']:,} before the freed heap is "
                    f"handed back); "
                    f"restore {figures['restore_scans_per_s']:,} scans/s "
                    f"({figures['restore_cpu_s']} CPU s for {figures['restore_scans']:,})")
    report.set("held_memory", memory)
    # A full hot window of the largest city: hot-hours of its day, shared by 8 partitions.
    biggest = memory[-1]
    per_partition = biggest["restore_scans"] * args.hot_hours / 24 / 8
    restore_s = per_partition / biggest["restore_scans_per_s"]
    report.set("restore_full_window", {"hot_hours": args.hot_hours,
                                       "scans_per_partition": round(per_partition),
                                       "seconds_apply": round(restore_s, 1)})
    report.line(f"restore of one of 8 partitions holding {args.hot_hours} h of that city "
                f"({per_partition:,.0f} scans): {restore_s:.1f} s to apply, plus reading them")
    with bench_stack(keep=False) as stack:
        late = late_scans(stack, args.late_city, args.late_share)
    report.set("late", late)
    report.line(f"late scans: {late['late_scans']:,} in {late['late_messages']} messages traced "
                f"against ClickHouse at {late['late_scans_per_s']:,} scans/s "
                f"({late['late_scans_per_cpu_s']:,} per CPU s of the tracer); stored equals the "
                f"whole day: {late['stored_equals_whole_day']}")
    report.finish()


if __name__ == "__main__":
    main()
