"""The tracer worker's CPU path without Kafka or ClickHouse: ``python -m bench.tracer_core``.

The default bench city (``bench.tracer``'s messages, values exactly as ingest encodes them) fed
through :class:`TracerCore.process` in the worker's parts of 2.5 MB: decoding, the domain, the
ClickHouse rows and the ``contacts`` messages, nothing written. Times are CPU seconds of this
process, with the worker's garbage-collector settings. ``--digest`` also prints a digest of every
row and contact change made, to check that a change to the hot path leaves the results as they
were (compare it with the code before the change on the same ``--seed``).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import time
from typing import Any

import orjson

from bench.common import bench_settings, city_day
from bench.tracer import encode_messages
from services.tracer.app import GC_THRESHOLDS
from services.tracer.domain.model import VenueRules
from services.tracer.processor import SourceMessage, StepOutput, TracerCore, in_parts

PART_BYTES = 2_500_000  # the worker's (services/tracer/app.py)
PARTITIONS = 8
NOW = 1_800_000_000  # a fixed day, so that two runs of one seed trace the same scans


def _changes(out: StepOutput) -> list[tuple[Any, ...]]:
    """Each contact change of a step's messages, people named (message order set aside)."""
    changes = []
    for _, value in out.contacts:
        message = orjson.loads(value)
        people = message["people"]
        changes.extend(
            (message["venue_id"], op, contact_id, people[a], people[b], start, end)
            for op, contact_id, a, b, start, end in zip(
                message["op"], message["contact_id"], message["person_a"], message["person_b"],
                message["start"], message["end"], strict=True))
    return changes


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--scans", type=int, default=400_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--digest", action="store_true",
                        help="print a digest of every row and contact change")
    args = parser.parse_args()

    settings = bench_settings()
    day = city_day(args.scans, seed=args.seed, now=NOW)
    rules = {v.venue_id: VenueRules(settings.default_dwell_s, settings.max_dwell_s,
                                    v.min_overlap_s or settings.min_overlap_s)
             for v in day.venues}
    encoded = encode_messages(day, settings, 300, 2_000)
    messages = [SourceMessage("scans", int(hashlib.sha1(key).hexdigest(), 16) % PARTITIONS,
                              offset, key, value)
                for offset, (key, value, _) in enumerate(encoded)]
    scans = sum(count for *_, count in encoded)
    gc.set_threshold(*GC_THRESHOLDS)
    gc.collect()
    core = TracerCore(rules.__getitem__)
    rows: dict[str, list[tuple[Any, ...]]] = {"scans": [], "visits": [], "contacts": []}
    changes: list[tuple[Any, ...]] = []
    cpu = 0.0
    contact_changes = 0
    for part in in_parts(messages, PART_BYTES):
        began = time.process_time()
        out, done = core.process(part)
        cpu += time.process_time() - began
        if done != len(part):
            raise RuntimeError("a message needed the venue's history: not a hot-path figure")
        contact_changes += out.contact_changes
        if args.digest:
            for table, held in rows.items():
                held.extend(getattr(out.rows, table).rows())
            changes.extend(_changes(out))
    print(f"{scans:,} scans in {len(messages):,} messages: {cpu:.2f} CPU s = "
          f"{scans / cpu:,.0f} scans per CPU second ({contact_changes / scans:.1f} contact "
          f"changes a scan)")
    figures: dict[str, Any] = {"benchmark": "tracer_core", "scans": scans,
                               "messages": len(messages), "cpu_s": round(cpu, 2),
                               "scans_per_cpu_s": round(scans / cpu),
                               "contact_changes": contact_changes}
    if args.digest:
        digest = hashlib.sha256()
        for held in rows.values():
            digest.update(repr(sorted(held)).encode())
        digest.update(repr(sorted(changes)).encode())
        figures["digest"] = digest.hexdigest()
        print(f"digest of the rows and contact changes: {figures['digest']}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
