"""Ingest throughput on batched requests: ``python -m bench.ingest``.

1. One ingest process (``python -m services.ingest``, a real subprocess) on a fresh topic prefix;
   ``--venues`` busy venues are registered through ``POST /v1/venues``.
2. A city's scans are cut into requests of ``--batch`` scans (each venue's scans in time order)
   and every body is JSON-encoded before the clock starts. ``--clients`` concurrent HTTP clients
   (one keep-alive connection each) post them; a few requests per client warm up first and are
   not counted. Figures: accepted scans/s, requests/s and the latency of a ``202`` (p50/p99).
3. The same scans, pseudonymised and built into ``ScanBatch`` messages beforehand, are published
   straight to Kafka with ingest's own client (``KafkaPublisher``: acks=all, idempotent, one
   message per batch) by the same number of concurrent senders: the Kafka ceiling of step 2.
   The ratio ingest / direct says what the HTTP layer, validation and pseudonymisation cost.

The load generator runs in this process, on the same cores as the ingest process, the broker and
ClickHouse: its CPU time is reported too.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from bench.common import (
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
    grant_admin,
    isolated_stores,
    percentile,
    scan_batch,
    scan_request_items,
)
from schemas.scans import ScanBatch
from services.core.config import Settings
from services.core.directory import AuthorityPrivateKey
from services.ingest.publisher import KafkaPublisher

WARM_UP_PER_CLIENT = 3


@dataclass
class Timings:
    """What one timed phase did: scans accepted, seconds, and each request's latency."""

    scans: int = 0
    requests: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        return {
            "scans": self.scans,
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "scans_per_s": round(self.scans / self.seconds) if self.seconds else 0,
            "requests_per_s": round(self.requests / self.seconds, 1) if self.seconds else 0,
            "latency_ms_p50": round(percentile(self.latencies_ms, 50), 1),
            "latency_ms_p99": round(percentile(self.latencies_ms, 99), 1),
            "latency_ms_max": round(max(self.latencies_ms, default=0.0), 1),
            "failures": len(self.failures),
        }


# ------------------------------------------------------------------------------ HTTP


def register_venues(url: str, admin: str, venue_ids: Sequence[str]) -> dict[str, str]:
    """venue_id -> API key, through the public API."""
    keys = {}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {admin}"},
                      timeout=30) as http:
        for venue_id in venue_ids:
            answer = http.post("/v1/venues", json={"name": f"bench {venue_id}",
                                                   "kind": venue_id.split("-")[0],
                                                   "venue_id": venue_id})
            if answer.status_code != 201:
                raise RuntimeError(f"registering {venue_id}: {answer.status_code} {answer.text}")
            keys[venue_id] = answer.json()["api_key"]
    return keys


async def _post_all(url: str, requests: Sequence[tuple[str, bytes, int]], clients: int,
                    timings: Timings) -> None:
    queue = list(reversed(requests))

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            while queue:
                key, body, count = queue.pop()
                began = time.perf_counter()
                answer = await http.post(
                    "/v1/scans", content=body,
                    headers={"Authorization": f"Bearer {key}",
                             "Content-Type": "application/json"},
                )
                elapsed = time.perf_counter() - began
                if answer.status_code != 202 or answer.json()["accepted"] != count:
                    timings.failures.append(f"{answer.status_code}: {answer.text[:300]}")
                    continue
                timings.latencies_ms.append(elapsed * 1000)
                timings.scans += count
                timings.requests += 1

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    timings.seconds = time.perf_counter() - began


def post_scans(url: str, requests: Sequence[tuple[str, bytes, int]], clients: int) -> Timings:
    timings = Timings()
    asyncio.run(_post_all(url, requests, clients, timings))
    return timings


# ------------------------------------------------------------------------------ direct


async def _publish_all(settings: Settings, batches: Sequence[ScanBatch], warm_up: int,
                       clients: int) -> Timings:
    publisher = KafkaPublisher(settings)
    await publisher.start()
    timings = Timings()
    try:
        for batch in batches[:warm_up]:
            await publisher.publish_scans(batch)
        queue = list(reversed(batches[warm_up:]))

        async def sender() -> None:
            while queue:
                batch = queue.pop()
                began = time.perf_counter()
                await publisher.publish_scans(batch)
                timings.latencies_ms.append((time.perf_counter() - began) * 1000)
                timings.scans += len(batch.scans)
                timings.requests += 1

        began = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(clients)))
        timings.seconds = time.perf_counter() - began
    finally:
        await publisher.stop()
    return timings


# ------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=2_000, help="scans per request")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--sealed", action="store_true",
                        help="configure an authority public key: ingest seals each new person "
                        "for the contact directory (one directory message per person)")
    add_keep_options(parser)
    args = parser.parse_args()

    report = Report("ingest")
    # Busy venues (a gate uploads `batch` scans at a time), so that most requests are full.
    day = city_day(args.scans, crowding=max(1.0, args.batch / 100), seed=args.seed)
    uploads = day.batches(low=args.batch, high=args.batch)
    report.line(f"city: {day.scan_count:,} scans at {len(day.scans):,} venues in "
                f"{len(uploads):,} requests ({day.scan_count / len(uploads):,.0f} scans/request), "
                f"{args.clients} clients")
    report.set("workload", {"scans": day.scan_count, "venues": len(day.scans),
                            "requests": len(uploads), "batch": args.batch,
                            "clients": args.clients})
    with bench_stack(keep=args.keep_stack) as stack:
        others = busy_processes()
        if others:
            report.line(f"note: other busy processes share the CPUs: {', '.join(others)}")
        report.set("busy_processes_at_start", others)
        with isolated_stores(stack, keep_data=args.keep_data) as settings:
            if args.sealed:
                key = AuthorityPrivateKey.generate().public.configured()
                settings = settings.model_copy(update={"authority_public_keys": key})
            report.set("sealed", args.sealed)
            http = _run_http(report, settings, day, uploads, args.clients)
        with isolated_stores(stack, keep_data=args.keep_data) as settings:
            direct = _run_direct(report, settings, uploads, args.clients)
    ratio = http["scans_per_s"] / direct["scans_per_s"]
    report.set("ratio_ingest_to_direct_kafka", round(ratio, 3))
    report.line(f"ratio ingest / direct Kafka: {ratio:.2f} (bar: ingest >= 20,000 scans/s)")
    report.finish()


def _run_http(report: Report, settings: Settings, day: Any,
              uploads: Sequence[tuple[str, list[ScanRow]]], clients: int) -> dict[str, Any]:
    admin = grant_admin(settings)
    url = f"http://{settings.ingest_host}:{settings.ingest_port}"
    service = ServiceRun("services.ingest", settings, settings.state_dir / "ingest.log")
    try:
        service.wait_healthy(url)
        keys = register_venues(url, admin, sorted(day.scans))
        requests = [(keys[venue_id], orjson.dumps(scan_request_items(venue_id, rows)), len(rows))
                    for venue_id, rows in uploads]
        warm_up = WARM_UP_PER_CLIENT * clients
        post_scans(url, requests[:warm_up], clients)
        with PeakRss() as rss:
            rss.watch("ingest", service.pid)
            ingest_cpu0, bench_cpu0 = cpu_seconds(service.pid), cpu_seconds(os.getpid())
            timings = post_scans(url, requests[warm_up:], clients)
            ingest_cpu = cpu_seconds(service.pid) - ingest_cpu0
            bench_cpu = cpu_seconds(os.getpid()) - bench_cpu0
            peak = rss.peak_mb("ingest")
    finally:
        service.stop()
    figures = timings.figures()
    figures.update(
        ingest_cpu_s=round(ingest_cpu, 2),
        scans_per_ingest_cpu_s=round(timings.scans / max(ingest_cpu, 1e-9)),
        load_generator_cpu_s=round(bench_cpu, 2),
        ingest_peak_rss_mb=round(peak, 1),
    )
    report.set("ingest_http", figures)
    report.line(
        f"ingest over HTTP: {figures['scans_per_s']:,} scans/s accepted "
        f"({figures['requests_per_s']} requests/s), 202 latency p50 {figures['latency_ms_p50']} ms"
        f" / p99 {figures['latency_ms_p99']} ms / max {figures['latency_ms_max']} ms; ingest CPU "
        f"{figures['ingest_cpu_s']} s ({figures['scans_per_ingest_cpu_s']:,} scans per CPU s), "
        f"load generator {figures['load_generator_cpu_s']} s; peak RSS "
        f"{figures['ingest_peak_rss_mb']} MiB; {figures['failures']} failed requests"
    )
    if timings.failures:
        report.line(f"  first failure: {timings.failures[0]}")
    return figures


def _run_direct(report: Report, settings: Settings,
                uploads: Sequence[tuple[str, list[ScanRow]]], clients: int) -> dict[str, Any]:
    pseudonym = Pseudonyms(settings)
    ingested_at = datetime.now(UTC).replace(microsecond=0)
    batches = [scan_batch(venue_id, rows, pseudonym, ingested_at) for venue_id, rows in uploads]
    cpu0 = cpu_seconds(os.getpid())
    timings = asyncio.run(_publish_all(settings, batches, WARM_UP_PER_CLIENT * clients, clients))
    figures = timings.figures()
    figures["publisher_cpu_s"] = round(cpu_seconds(os.getpid()) - cpu0, 2)
    report.set("direct_kafka", figures)
    report.line(
        f"direct to Kafka (KafkaPublisher, one ScanBatch per batch): {figures['scans_per_s']:,} "
        f"scans/s, ack latency p50 {figures['latency_ms_p50']} ms / p99 "
        f"{figures['latency_ms_p99']} ms"
    )
    return figures


if __name__ == "__main__":
    main()
