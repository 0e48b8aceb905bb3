"""``truyvet simulate`` and ``truyvet demo``: arguments, running, and what they print."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from clickhouse_driver.errors import Error as ClickHouseError
from rich.console import Console
from rich.table import Table

from services.core.config import Settings
from truyvet.simulate.alerts import (
    AlertProgress,
    PipelineReads,
    wait_for_alerts,
    wait_for_tracer,
)
from truyvet.simulate.city import ICT, CityConfig, CityConfigError
from truyvet.simulate.run import (
    RunOptions,
    SimulationError,
    SimulationSummary,
    dashboard_url,
    default_ingest_url,
    simulate,
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

console = Console(highlight=False, markup=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"cannot be negative, got {value}")
    return value


def _aware(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date-time: {text!r}") from exc
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"needs a UTC offset, e.g. {text}+07:00")
    return value


def _city_arguments(parser: argparse.ArgumentParser, *, people: int, venues: int,
                    cases: int) -> None:
    parser.add_argument("--people", type=_positive, default=people,
                        help=f"people in the city (default: {people:,})")
    parser.add_argument("--venues", type=_positive, default=venues,
                        help=f"venues in the city (default: {venues})")
    parser.add_argument("--days", type=_positive, default=1,
                        help="days simulated, ending an hour ago (default: 1)")
    parser.add_argument("--seed", type=int, default=1,
                        help="the same seed (with --namespace and --end) sends the same scans")
    parser.add_argument("--cases", type=_count, default=cases,
                        help=f"confirmed cases to report after the scans (default: {cases})")
    parser.add_argument("--ingest-url", help="ingest API (default: from TRUYVET_INGEST_*)")
    parser.add_argument("--namespace",
                        help="venue-id prefix; venues register once, so the default adds a "
                        "random tag to sim<seed>")
    parser.add_argument("--end", type=_aware,
                        help="end of the simulated window, ISO with offset (default: an hour ago)")
    parser.add_argument("--admin-token", help="registers the venues (default: a new one)")
    parser.add_argument("--authority-token", help="reports the cases (default: a new one)")
    parser.add_argument("--upload-every", type=_positive, default=30, metavar="MINUTES",
                        help="how often an online gate scanner uploads its queue; bigger "
                        "batches push big cities faster (default: 30)")
    parser.add_argument("--concurrency", type=_positive, default=4,
                        help="requests in flight (default: 4)")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON line")


def simulate_arguments(parser: argparse.ArgumentParser) -> None:
    _city_arguments(parser, people=2000, venues=60, cases=0)


def demo_arguments(parser: argparse.ArgumentParser) -> None:
    _city_arguments(parser, people=1500, venues=50, cases=3)
    parser.add_argument("--timeout", type=_positive, default=180,
                        help="seconds to wait for the tracer, then for the alerts "
                        "(default: 180 each)")


def _config(args: argparse.Namespace, settings: Settings) -> CityConfig:
    if args.days >= settings.retention_days:
        raise CityConfigError(f"--days must be below the retention horizon of "
                              f"{settings.retention_days} days: older scans are refused")
    end = args.end or datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)
    namespace = args.namespace or f"sim{args.seed}-{secrets.token_hex(2)}"
    return CityConfig(seed=args.seed, people=args.people, venues=args.venues, days=args.days,
                      end=end, namespace=namespace, upload_every_s=args.upload_every * 60)


def _run(
    args: argparse.Namespace,
    settings: Settings,
    before_cases: Callable[[SimulationSummary], None] | None = None,
) -> SimulationSummary | int:
    try:
        config = _config(args, settings)
    except CityConfigError as exc:
        errors.print(f"error: {exc}")
        return EXIT_USAGE
    options = RunOptions(
        ingest_url=args.ingest_url or default_ingest_url(settings),
        dashboard_url=dashboard_url(settings), admin_token=args.admin_token,
        authority_token=args.authority_token, cases=args.cases, concurrency=args.concurrency,
        progress=not args.json,
    )
    if not args.json:
        window = (f"{config.start.astimezone(ICT):%Y-%m-%d %H:%M} → "
                  f"{config.end.astimezone(ICT):%Y-%m-%d %H:%M} ICT")
        console.print(f"simulating {config.people:,} people and {config.venues} venues over "
                      f"{config.days} day(s), {window} (seed {config.seed}, namespace "
                      f"{config.venue_prefix}) → {options.ingest_url}")
    try:
        return simulate(settings, config, options, console=errors, before_cases=before_cases)
    except SimulationError as exc:
        errors.print(f"error: {exc}")
        return EXIT_FAILED


def print_summary(summary: SimulationSummary, *, show_cases: bool = True) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("venues", f"{summary.venues} registered ({summary.namespace}-…)")
    table.add_row("scans sent", f"{summary.scans_sent:,} in {summary.batches:,} batches, "
                  f"{summary.requests:,} requests ({summary.retries} retried)")
    table.add_row("accepted", f"{summary.accepted:,} ({summary.unique_accepted:,} distinct; "
                  f"{summary.accepted_redeliveries:,} re-deliveries accepted again)")
    table.add_row("duplicates in request", f"{summary.duplicates_in_request:,}")
    refused = ", ".join(f"{reason}: {n:,}" for reason, n in sorted(summary.refused.items()))
    table.add_row("refused", f"{summary.refused_total:,}" + (f" ({refused})" if refused else ""))
    table.add_row("elapsed", f"{summary.elapsed_s:.1f} s (scans pushed in {summary.push_s:.1f} s,"
                  f" {summary.scans_per_s:,.0f} scans/s)")
    table.add_row("dashboard", summary.dashboard_url)
    console.print(table)
    if summary.cases and show_cases:
        console.print(f"cases reported at {_local(summary.cases[0]['reported_at'])} ICT:")
        for case in summary.cases:  # plain lines: ids stay whole and copyable at any width
            console.print(f"  {case['case_id']}  person {case['person_id']}  seen at "
                          f"{case['venue_id']}  onset {_local(case['onset_at'])}")


def _local(iso: str) -> str:
    return f"{datetime.fromisoformat(iso).astimezone(ICT):%Y-%m-%d %H:%M}"


def run_simulate(args: argparse.Namespace, settings: Settings) -> int:
    outcome = _run(args, settings)
    if isinstance(outcome, int):
        return outcome
    if args.json:
        sys.stdout.write(json.dumps(outcome.to_json(), ensure_ascii=False) + "\n")
    else:
        print_summary(outcome)
    return EXIT_OK


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    began = time.monotonic()

    def elapsed() -> str:
        return f"{time.monotonic() - began:.0f} s"

    def tracer_caught_up(summary: SimulationSummary) -> None:
        # Cases reported while the tracer still works through the scans would be re-traced
        # at every contact it emits; a health authority reports them once the data is in.
        reads = PipelineReads.connect(settings)
        try:
            with errors.status("waiting for the tracer…") as status:
                wait_for_tracer(
                    reads, venue_ids=summary.venue_ids, scans_expected=summary.unique_accepted,
                    timeout_s=args.timeout, on_poll=lambda stored: status.update(
                        f"waiting for the tracer: {stored:,} / {summary.unique_accepted:,} "
                        f"scans traced ({elapsed()})"))
        except (ClickHouseError, OSError, EOFError) as exc:
            errors.print(f"warning: cannot read ClickHouse ({exc}); reporting the cases anyway")
        finally:
            reads.close()

    outcome = _run(args, settings, before_cases=tracer_caught_up)
    if isinstance(outcome, int):
        return outcome
    if not args.json:
        print_summary(outcome, show_cases=False)
    case_ids = [case["case_id"] for case in outcome.cases]
    if not case_ids:
        errors.print("no cases were reported (--cases 0): nothing to wait for")
        return _print_json(outcome, None) if args.json else EXIT_OK

    reads = PipelineReads.connect(settings)
    try:
        with errors.status("waiting for the alerts…") as status:
            def show(progress: AlertProgress) -> None:
                alerts = sum(sum(by_degree.values()) for by_degree in progress.counts.values())
                status.update(f"waiting for the alerts of {len(case_ids)} cases: {alerts:,} "
                              f"so far ({elapsed()})")

            progress = wait_for_alerts(
                reads, case_ids=case_ids, venue_ids=outcome.venue_ids,
                scans_expected=outcome.unique_accepted, timeout_s=args.timeout, on_poll=show)
    except (ClickHouseError, OSError, EOFError) as exc:
        errors.print(f"error: cannot read alerts from ClickHouse at {settings.clickhouse_host}:"
                     f"{settings.clickhouse_port} ({exc})")
        return EXIT_FAILED
    finally:
        reads.close()
    if args.json:
        return _print_json(outcome, progress)
    console.print(alerts_table(outcome, progress))
    if not progress.settled:
        errors.print(f"timed out after {args.timeout} s waiting for the alerts: "
                     f"{_still_missing(progress, case_ids)}; is every part healthy? "
                     "(truyvet status)")
        return EXIT_FAILED
    console.print(f"alerts settled {elapsed()} after the demo began. Dashboard: "
                  f"{outcome.dashboard_url}  —  details: truyvet trace {case_ids[0]}")
    return EXIT_OK


def _still_missing(progress: AlertProgress, case_ids: list[str]) -> str:
    if not progress.tracer_caught_up:
        return f"the tracer has {progress.scans_stored:,} of {progress.scans_expected:,} scans"
    missing = [c for c in case_ids if c not in progress.counts]
    return f"no alerts yet for {', '.join(missing)}" if missing else "alerts still changing"


def alerts_table(summary: SimulationSummary, progress: AlertProgress) -> Table:
    degrees = sorted({d for by_degree in progress.counts.values() for d in by_degree} | {1, 2})
    table = Table(title="alerts per reported case")
    for header in ("case", "person", "seen at"):
        table.add_column(header, overflow="fold")  # ids are copied from here: never cut them
    for degree in degrees:
        table.add_column(f"F{degree}", justify="right")
    for case in summary.cases:
        by_degree = progress.counts.get(case["case_id"], {})
        table.add_row(case["case_id"], case["person_id"], case["venue_id"],
                      *(f"{by_degree.get(d, 0):,}" for d in degrees))
    return table


def _print_json(summary: SimulationSummary, progress: AlertProgress | None) -> int:
    body = summary.to_json()
    if progress is not None:
        body["alerts"] = {case: {f"F{d}": n for d, n in sorted(by_degree.items())}
                          for case, by_degree in progress.counts.items()}
        body["alerts_settled"] = progress.settled
    sys.stdout.write(json.dumps(body, ensure_ascii=False) + "\n")
    return EXIT_OK if progress is None or progress.settled else EXIT_FAILED
