"""Soak: scans pushed steadily through the HTTP API for minutes, the whole pipeline running.

``python -m bench.soak`` (``make soak``), not a test:

1. starts the benchmark stack (``.truyvet-bench/``) and, on topics and a database of their own,
   every service: ingest, tracer, alerts worker, alerts API;
2. registers the venues of a synthetic city and has ``--gates`` venue gates upload its scans
   over HTTP at ``--rate`` scans/s for ``--minutes`` (uploads of ``--batch`` scans; a ``503`` is
   retried after its ``Retry-After``, as a real gate would), reporting a few cases on the way;
3. every ``--every`` seconds prints the scans acknowledged over HTTP and traced by the tracer
   per second, the tracer's lag, and the resident memory of each process;
4. waits (bounded) for the tracer to drain, prints every process's RSS at start, end and peak,
   and ends with ONE line of JSON holding every figure.

A steady state shows as flat throughput and lag and an RSS that stops growing; a leak as an RSS
that keeps climbing with the scans pushed.
"""

from __future__ import annotations

import argparse
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.common import (
    CityDay,
    PeakRss,
    Report,
    ServiceRun,
    add_keep_options,
    bench_stack,
    busy_processes,
    city_day,
    grant_admin,
    infra_pids,
    isolated_stores,
    percentile,
    scan_request_items,
    tracer_heartbeat,
    wait_until,
)
from schemas.registry import Role, TokenRecord, VenueRecord
from services.core.config import Settings
from services.core.registry_log import publish_records_blocking
from services.core.tokens import issue_token

SERVICES = (
    ("ingest", "services.ingest"),
    ("tracer", "services.tracer"),
    ("alerts-worker", "services.alerts.worker"),
    ("alerts-api", "services.alerts"),
)
MAX_ATTEMPTS = 10  # per upload; a gate gives up (and it is counted) after that


@dataclass
class Tally:
    """What the gates were told, shared between the gate threads and the reporter."""

    accepted_scans: int = 0
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    gave_up: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def gate(url: str, uploads: queue.Queue[tuple[str, list[dict[str, str]]] | None],
         tally: Tally) -> None:
    """One gate thread: post uploads until the queue hands it ``None``."""
    with httpx.Client(base_url=url, timeout=60) as http:
        while (item := uploads.get()) is not None:
            venue_id, body = item
            # The benchmark registers venues with the venue id as API key (bench.common).
            headers = {"Authorization": f"Bearer {venue_id}"}
            for _ in range(MAX_ATTEMPTS):
                began = time.monotonic()
                try:
                    answer = http.post("/v1/scans", json=body, headers=headers)
                except httpx.TransportError:
                    time.sleep(1.0)
                    continue
                with tally.lock:
                    tally.requests += 1
                    tally.statuses[answer.status_code] += 1
                    if answer.status_code == 202:
                        tally.accepted_scans += int(answer.json()["accepted"])
                        tally.latencies_ms.append((time.monotonic() - began) * 1000)
                if answer.status_code != 503:
                    break
                time.sleep(float(answer.headers.get("Retry-After", "1")))
            else:
                with tally.lock:
                    tally.gave_up += 1


def healthy(url: str) -> Callable[[], bool]:
    def answers() -> bool:
        try:
            return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
        except httpx.TransportError:  # not listening yet
            return False

    return answers


def traced_scans(state_dir: Path) -> int:
    """Scans the tracer has processed, from its heartbeat file (written every 5 s)."""
    return tracer_heartbeat(state_dir) or 0


def rss_mb(pids: dict[str, int]) -> dict[str, float]:
    """Resident memory of each process with its children, MiB (None-safe for exited ones)."""
    sizes = {}
    for name, pid in pids.items():
        try:
            proc = psutil.Process(pid)
            rss = proc.memory_info().rss + sum(c.memory_info().rss
                                               for c in proc.children(recursive=True))
        except psutil.Error:
            continue
        sizes[name] = round(rss / 2**20, 1)
    return sizes


def uploads_of(day: CityDay, batch: int) -> list[tuple[str, list[dict[str, str]]]]:
    return [(venue_id, scan_request_items(venue_id, rows))
            for venue_id, rows in day.batches(low=max(1, batch // 2), high=batch)]


def report_cases(url: str, token: str, day: CityDay, count: int, serial: int) -> None:
    """A few cases during the soak, so the alerts worker has open cases to re-trace."""
    now = datetime.now(UTC).replace(microsecond=0)
    people = sorted({person for rows in day.scans.values() for _, (_, person, _, _) in rows})
    with httpx.Client(base_url=url, timeout=30,
                      headers={"Authorization": f"Bearer {token}"}) as http:
        for i in range(count):
            http.post("/v1/cases", json={
                "case_id": f"soak-{serial}-{i}", "person_id": people[(serial * 7919 + i) %
                                                                     len(people)],
                "onset_at": (now - timedelta(days=1)).isoformat(),
                "reported_at": now.isoformat()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="how long to push")
    parser.add_argument("--rate", type=int, default=2_000, help="target scans/s over HTTP")
    parser.add_argument("--batch", type=int, default=200, help="most scans per upload")
    parser.add_argument("--gates", type=int, default=8, help="concurrent HTTP clients")
    parser.add_argument("--every", type=float, default=15.0, help="seconds between reports")
    parser.add_argument("--cases-every", type=float, default=60.0,
                        help="seconds between case reports (0: none)")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--drain-timeout", type=float, default=300.0)
    add_keep_options(parser)
    args = parser.parse_args()

    report = Report("soak")
    target = int(args.rate * args.minutes * 60)
    began = time.monotonic()
    day = city_day(target, seed=args.seed)
    uploads = uploads_of(day, args.batch)
    report.line(f"city: {day.scan_count:,} scans at {len(day.venues):,} venues in "
                f"{len(uploads):,} uploads, generated in {time.monotonic() - began:.1f} s")
    report.set("workload", {"minutes": args.minutes, "target_scans_per_s": args.rate,
                            "scans": day.scan_count, "uploads": len(uploads),
                            "venues": len(day.venues), "gates": args.gates})
    with bench_stack(keep=args.keep_stack) as stack:
        report.set("busy_processes_at_start", busy_processes())
        with isolated_stores(stack, keep_data=args.keep_data) as settings:
            soak(report, args, stack, settings, day, uploads)
    report.finish()


def soak(report: Report, args: argparse.Namespace, stack: Settings, settings: Settings,
         day: CityDay, uploads: list[tuple[str, list[dict[str, str]]]]) -> None:
    grant_admin(settings)
    authority, token_record = issue_token(Role.AUTHORITY, "soak")
    records: list[VenueRecord | TokenRecord] = [*day.venue_records(settings), token_record]
    publish_records_blocking(settings, records)
    ingest_url = f"http://{settings.ingest_host}:{settings.ingest_port}"
    alerts_url = f"http://{settings.alerts_host}:{settings.alerts_port}"
    state_dir = Path(settings.state_dir)
    runs = {name: ServiceRun(module, settings, state_dir / f"{name}.log")
            for name, module in SERVICES}
    tally = Tally()
    try:
        for url in (ingest_url, alerts_url):
            wait_until(healthy(url), 90, f"{url} to answer")
        pids = {**{name: run.pid for name, run in runs.items()}, **infra_pids(stack)}
        rss_start = rss_mb(pids)
        report.line("RSS at start (MiB): " + ", ".join(f"{k} {v}" for k, v in rss_start.items()))
        timeline: list[dict[str, Any]] = []
        with PeakRss(every_s=1.0) as peaks:
            for name, pid in pids.items():
                peaks.watch(name, pid)
            pending: queue.Queue[tuple[str, list[dict[str, str]]] | None] = queue.Queue(
                maxsize=args.gates * 4)
            threads = [threading.Thread(target=gate, args=(ingest_url, pending, tally),
                                        daemon=True) for _ in range(args.gates)]
            for thread in threads:
                thread.start()
            began = time.monotonic()
            deadline = began + args.minutes * 60
            next_report, next_cases, sent_scans, serial = began + args.every, began, 0, 0
            last = (began, 0, traced_scans(state_dir))
            for venue_id, body in uploads:
                now = time.monotonic()
                if now >= deadline:
                    break
                for name, run in runs.items():
                    if not run.alive():
                        raise RuntimeError(f"{name} exited:\n{run.log_tail()}")
                if args.cases_every and now >= next_cases:
                    report_cases(ingest_url, authority, day, 3, serial)
                    serial, next_cases = serial + 1, now + args.cases_every
                if now >= next_report:
                    last = progress(report, timeline, began, last, tally, state_dir, pids)
                    next_report += args.every
                pending.put((venue_id, body))  # blocks while the gates are behind
                sent_scans += len(body)
                # Pace by scans handed out: the gates post as fast as ingest answers.
                time.sleep(max(0.0, began + sent_scans / args.rate - time.monotonic()))
            pushing_s = time.monotonic() - began
            for _ in threads:
                pending.put(None)
            for thread in threads:
                thread.join(timeout=120)
            progress(report, timeline, began, last, tally, state_dir, pids)
            drain_began = time.monotonic()
            try:
                wait_until(lambda: traced_scans(state_dir) >= tally.accepted_scans,
                           args.drain_timeout, "the tracer to process every accepted scan", 1.0)
                drain_s: float | None = round(time.monotonic() - drain_began, 1)
            except TimeoutError:
                drain_s = None
            rss_end = rss_mb(pids)
            peak = {name: round(peaks.peak_mb(name), 1) for name in pids}
    finally:
        for run in runs.values():
            run.stop()
    report.line("RSS (MiB)    " + "".join(f"{name:>14}" for name in pids))
    for label, sizes in (("start", rss_start), ("end", rss_end), ("peak", peak)):
        report.line(f"  {label:<10} " + "".join(f"{sizes.get(n, 0):>14,.1f}" for n in pids))
    with tally.lock:
        latencies = list(tally.latencies_ms)
        report.set("pushed", {
            "seconds": round(pushing_s, 1), "accepted_scans": tally.accepted_scans,
            "scans_per_s": round(tally.accepted_scans / max(pushing_s, 1e-9)),
            "requests": tally.requests, "statuses": dict(tally.statuses),
            "uploads_given_up": tally.gave_up,
            "latency_202_ms": {"p50": round(percentile(latencies, 50), 1),
                               "p99": round(percentile(latencies, 99), 1),
                               "max": round(max(latencies, default=0.0), 1)},
        })
    report.set("traced_scans", traced_scans(state_dir))
    report.set("drain_s", drain_s)
    report.set("timeline", timeline)
    report.set("rss_mb", {name: {"start": rss_start.get(name), "end": rss_end.get(name),
                                 "peak": peak.get(name)} for name in pids})


def progress(report: Report, timeline: list[dict[str, Any]], began: float,
             last: tuple[float, int, int], tally: Tally, state_dir: Path,
             pids: dict[str, int]) -> tuple[float, int, int]:
    """Print and record one line of throughput and memory; return the new reference point."""
    now = time.monotonic()
    with tally.lock:
        accepted = tally.accepted_scans
    traced = traced_scans(state_dir)
    then, accepted_then, traced_then = last
    span = max(now - then, 1e-9)
    sizes = rss_mb(pids)
    point = {
        "t_s": round(now - began, 1),
        "http_scans_per_s": round((accepted - accepted_then) / span),
        "traced_scans_per_s": round((traced - traced_then) / span),
        "lag_scans": accepted - traced,
        "rss_mb": sizes,
    }
    timeline.append(point)
    report.line(f"t={point['t_s']:>6.0f}s  http {point['http_scans_per_s']:>7,}/s  "
                f"traced {point['traced_scans_per_s']:>7,}/s  lag {point['lag_scans']:>8,}  "
                + "  ".join(f"{k} {v:,.0f}M" for k, v in sizes.items()))
    return now, accepted, traced


if __name__ == "__main__":
    main()
