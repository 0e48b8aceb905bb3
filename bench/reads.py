"""Reading a big case through the alerts API: the first page, every page, one alert, the chain.

``python -m bench.reads``:

1. writes one case with ``--f1`` F1 and ``--f2`` F2 alerts (default 300 + 2,700 = 3,000, the
   size of a dense city's cases) straight into ClickHouse as the alerts worker would, each F2
   with a log-normal number of exposures (median ``--exposures``, default 150; a dense venue's
   F2 met many F1), so that the case's stored alerts weigh what a real one does;
2. starts the alerts API and reads the case as an authority would, ``--rounds`` times each:
   ``GET /v1/cases/{id}/alerts`` (the first page, 100 alerts), every page after it by cursor,
   one alert with every exposure, and the first page of the chain;
3. prints p50 / p99 of each read and the bytes of each answer. Bar: the first page under 200 ms.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from bench.common import (
    Report,
    ServiceRun,
    add_keep_options,
    bench_stack,
    isolated_stores,
    percentile,
)
from schemas.registry import Role
from services.alerts.domain import alert_id_for
from services.core.clickhouse import clickhouse_client
from services.core.config import Settings
from services.core.registry_log import publish_records_blocking
from services.core.tokens import issue_token

CASE = "bench-big-case"
HOUR = 3600


def pseudonym(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def write_case(settings: Settings, f1: int, f2: int, median_exposures: int, seed: int) -> int:
    """The case and its alerts as stored rows; the bytes of the exposures written."""
    rng = random.Random(seed)
    now = int(time.time())
    f0 = pseudonym("f0")
    f1s = [pseudonym(f"f1-{i}") for i in range(f1)]
    rows = []
    stored = 0

    def iso(t: int) -> str:
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def exposures(others: list[str], start: int) -> str:
        nonlocal stored
        text = json.dumps([
            {"contact_id": hashlib.sha1(f"{o}{start}{k}".encode()).hexdigest()[:32],
             "venue_id": f"venue-{k % 40}", "other_person_id": o,
             "start": iso(start + 60 * k), "end": iso(start + 60 * k + 1200)}
            for k, o in enumerate(others)])
        stored += len(text)
        return text

    for person in f1s:
        at = now - 3 * 86_400 + rng.randrange(2 * 86_400)
        rows.append((CASE, alert_id_for(CASE, person), person, 1, at, "", ["venue-1"],
                     exposures([f0] * rng.randint(1, 3), at), now, 0, 1))
    for i in range(f2):
        person = pseudonym(f"f2-{i}")
        count = max(1, min(len(f1s), int(rng.lognormvariate(math.log(median_exposures), 0.8))))
        via = rng.sample(f1s, count)
        at = now - 2 * 86_400 + rng.randrange(86_400)
        rows.append((CASE, alert_id_for(CASE, person), person, 2, at, via[0],
                     sorted({f"venue-{k % 40}" for k in range(count)})[:20],
                     exposures(via, at), now, 0, 1))
    client = clickhouse_client(settings)
    try:
        client.execute(
            "INSERT INTO cases (case_id, person_id, status, onset_at, sampled_at, reported_at,"
            " isolated_at, withdrawn_at, version) VALUES",
            [(CASE, f0, "reported", datetime.fromtimestamp(now - 5 * 86_400, UTC), None,
              datetime.fromtimestamp(now - 60, UTC), None, None, 1)])
        for start in range(0, len(rows), 500):  # batches of a worker's size
            client.execute(
                "INSERT INTO alerts (case_id, alert_id, person_id, degree, exposed_at,"
                " via_person_id, venue_ids, exposures, created_at, deleted, version) VALUES",
                [(c, a, p, d, datetime.fromtimestamp(t, UTC), v, vs, e,
                  datetime.fromtimestamp(cr, UTC), x, n)
                 for c, a, p, d, t, v, vs, e, cr, x, n in rows[start:start + 500]])
        client.execute("OPTIMIZE TABLE alerts FINAL")
    finally:
        client.disconnect()
    return stored


def timed(rounds: int, read: Callable[[], httpx.Response]) -> tuple[list[float], int]:
    """Milliseconds of each of ``rounds`` reads, and the bytes of the last answer."""
    millis, size = [], 0
    for _ in range(rounds):
        began = time.perf_counter()
        answer = read()
        millis.append((time.perf_counter() - began) * 1000)
        assert answer.status_code == 200, answer.text[:300]
        size = len(answer.content)
    return millis, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--f1", type=int, default=300)
    parser.add_argument("--f2", type=int, default=2700)
    parser.add_argument("--exposures", type=int, default=150, help="median exposures of an F2")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--seed", type=int, default=7)
    add_keep_options(parser, data=False)
    args = parser.parse_args()
    report = Report("reads")
    with bench_stack(keep=args.keep_stack) as stack, isolated_stores(stack) as settings:
        began = time.monotonic()
        stored = write_case(settings, args.f1, args.f2, args.exposures, args.seed)
        report.line(f"case of {args.f1 + args.f2:,} alerts written, {stored / 1e6:.1f} MB of "
                    f"exposures, in {time.monotonic() - began:.1f} s")
        report.set("alerts", args.f1 + args.f2)
        report.set("exposures_mb", round(stored / 1e6, 1))
        token, record = issue_token(Role.AUTHORITY, "benchmark")
        publish_records_blocking(settings, [record])
        api = ServiceRun("services.alerts", settings, settings.state_dir / "alerts-api.log")
        url = f"http://{settings.alerts_host}:{settings.alerts_port}"
        try:
            api.wait_healthy(url)
            with httpx.Client(base_url=url, timeout=60,
                              headers={"Authorization": f"Bearer {token}"}) as http:
                path = f"/v1/cases/{CASE}/alerts"
                http.get(path)  # warm-up: the pool's first ClickHouse connection

                def every_page() -> httpx.Response:
                    answer = http.get(path)
                    while answer.json()["next_cursor"]:
                        answer = http.get(path, params={"cursor": answer.json()["next_cursor"]})
                    return answer

                some_f2 = alert_id_for(CASE, pseudonym("f2-0"))
                reads = {
                    "first_page": lambda: http.get(path),
                    "every_page": every_page,
                    "one_alert": lambda: http.get(f"{path}/{some_f2}"),
                    "chain_first_page": lambda: http.get(f"/v1/cases/{CASE}/chain"),
                }
                for name, read in reads.items():
                    rounds = args.rounds if name != "every_page" else max(3, args.rounds // 10)
                    millis, size = timed(rounds, read)
                    p50, p99 = percentile(millis, 50), percentile(millis, 99)
                    report.line(f"  {name:>16}: p50 {p50:7.1f} ms, p99 {p99:7.1f} ms, "
                                f"{size:,} bytes (last answer), {rounds} rounds")
                    report.set(f"{name}_p50_ms", round(p50, 1))
                    report.set(f"{name}_p99_ms", round(p99, 1))
                    report.set(f"{name}_bytes", size)
        finally:
            api.stop()
    report.finish()


if __name__ == "__main__":
    main()
