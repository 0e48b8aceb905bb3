"""The ``truyvet`` command line.

Each subcommand is a :class:`Command` (its arguments and a function from parsed arguments and
settings to an exit code), registered in :data:`COMMANDS` — the one place to add a subcommand.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table
from rich.text import Text

from schemas.common import utc_now
from schemas.registry import TokenRecord
from schemas.venues import VenueKind, VenuePublic
from services.core.config import IngestSettings
from services.core.tokens import ISSUABLE_ROLES
from truyvet.audit_command import audit
from truyvet.case_commands import case_body, report_case, withdraw_case
from truyvet.directory_commands import OpenError, generate_key, open_contacts, read_keys
from truyvet.exposure_command import (
    ExposureCommandError,
    confirm_cluster,
    declare_event,
    set_venue_alerts_paused,
    withdraw_event,
)
from truyvet.messages import validation_lines
from truyvet.registry_commands import (
    CommandError,
    add_token,
    add_venue,
    list_tokens,
    list_venues,
    revoke_token,
    rotate_venue_key,
)
from truyvet.simulate.commands import demo_arguments, run_demo, run_simulate, simulate_arguments
from truyvet.stack import kafka, lifecycle
from truyvet.stack.credentials import with_local_secrets
from truyvet.stack.processes import StackError
from truyvet.trace_command import trace

# Output quotes log lines and addresses full of [brackets]: markup only where asked for.
console = Console(highlight=False, markup=False, soft_wrap=True)
errors = Console(stderr=True, highlight=False, markup=False, soft_wrap=True)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    return None


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    run: Callable[[argparse.Namespace, IngestSettings], int]
    arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments


# --- up / down / status ----------------------------------------------------------------------


def run_up(args: argparse.Namespace, settings: IngestSettings) -> int:
    result = lifecycle.up(settings, progress=lambda line: console.print(f"  {line}"))
    if result.admin_token:
        console.print(f"admin token: {result.admin_token} (shown once)")
    console.print()
    width = max(len(label) for label in lifecycle.urls(result.settings))
    for label, url in lifecycle.urls(result.settings).items():
        console.print(f"  {label:<{width}}  {url}")
    return EXIT_OK


def _up_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kafka-brokers", type=int, choices=range(1, 10), metavar="N",
        help="run Kafka as N brokers on this machine (1-9; TRUYVET_KAFKA_BROKERS); 3 or more "
             "replicate every topic 3 times with min.insync.replicas=2. A stack keeps the "
             "size it was first started with (default: 1, or that size)",
    )


def run_down(args: argparse.Namespace, settings: IngestSettings) -> int:
    lifecycle.down(settings, progress=lambda line: console.print(f"  {line}"))
    return EXIT_OK


def _status_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--part",
        action="append",
        choices=lifecycle.part_names(),
        help="only this part (repeatable); default: all",
    )


def run_status(args: argparse.Namespace, settings: IngestSettings) -> int:
    parts = lifecycle.status(settings, args.part)
    healthy = all(part.healthy for part in parts)
    if args.json:
        report = {"healthy": healthy, "parts": [part.to_json() for part in parts]}
        sys.stdout.write(json.dumps(report) + "\n")
    else:
        table = Table("part", "state", "pid", "address", "healthy")
        colour = {"running": "green", "stopped": "dim", "unhealthy": "red"}
        for part in parts:
            table.add_row(
                part.name,
                Text(part.state, style=colour[part.state]),
                str(part.pid or "-"),
                part.address or "-",
                "yes" if part.healthy else "no",
            )
        console.print(table)
    return EXIT_OK if healthy else EXIT_FAILED


# --- registry: venues and tokens -------------------------------------------------------------


def _venue_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="register a venue; prints its id, API key and QR payload")
    add.add_argument("--name", required=True, help="the venue's name, as printed on its QR poster")
    add.add_argument("--kind", default="other",
                     choices=[k.value for k in VenueKind], help="kind of venue (default: other)")
    add.add_argument("--id", dest="venue_id", help="venue id (default: generated)")
    add.add_argument("--address", help="the venue's street address (optional)")
    add.add_argument("--default-dwell", type=int, metavar="SECONDS",
                     help="visit length when a check-out is missing (default: 3600)")
    add.add_argument("--max-dwell", type=int, metavar="SECONDS",
                     help="longest visit (default: 43200)")
    add.add_argument("--min-overlap", type=int, metavar="SECONDS",
                     help="shortest overlap that is a contact (default: 900)")
    add.add_argument("--cluster-rule", metavar="CASES,DAYS[,PRESENCE_S]",
                     help="the venue's own cluster rule: that many open cases present within "
                          "DAYS (each for PRESENCE_S, default 0) make a cluster (default: the "
                          "kind's rule)")
    rotate = actions.add_parser("rotate-key",
                                help="give a venue a new API key; the old one stops working")
    rotate.add_argument("venue_id", help="the venue's id (from `venue list`)")
    listing = actions.add_parser("list", help="every registered venue: id, name, kind, rules")
    listing.add_argument("--json", action="store_true", help="one JSON document")


def run_venue(args: argparse.Namespace, settings: IngestSettings) -> int:
    if args.action == "list":
        return _print_venues(list_venues(settings), as_json=args.json)
    if args.action == "rotate-key":
        try:
            api_key = rotate_venue_key(settings, args.venue_id)
        except CommandError as exc:
            errors.print(f"error: {exc}")
            return EXIT_USAGE
        console.print(f"new api_key of {args.venue_id} (shown once; the old key is refused "
                      f"from now on): {api_key}")
        return EXIT_OK
    try:
        created = add_venue(
            settings, name=args.name, kind=args.kind, venue_id=args.venue_id,
            address=args.address, default_dwell_s=args.default_dwell,
            max_dwell_s=args.max_dwell, min_overlap_s=args.min_overlap,
            cluster_rule=args.cluster_rule,
        )
    except CommandError as exc:
        errors.print(f"error: {exc}")
        return EXIT_USAGE
    console.print(f"venue_id:   {created['venue_id']}")
    console.print(f"qr_payload: {created['qr_payload']}")
    console.print(f"api_key:    {created['api_key']}  (shown once; only its hash is stored)")
    return EXIT_OK


def _print_venues(venues: list[VenuePublic], *, as_json: bool) -> int:
    if as_json:
        sys.stdout.write(json.dumps({"venues": [v.model_dump(mode="json") for v in venues]}) + "\n")
        return EXIT_OK
    # Ids and kinds are never cut (they are what the operator types next); names wrap.
    table = Table(Column("id", no_wrap=True), "name", Column("kind", no_wrap=True), "address",
                  "rules (dwell / max / overlap)")
    for venue in venues:
        rules = (f"{venue.default_dwell_s // 60} min / {venue.max_dwell_s // 3600} h / "
                 f"{venue.min_overlap_s // 60} min")
        table.add_row(venue.venue_id, venue.name, venue.kind.value, venue.address or "-", rules)
    console.print(table)
    console.print(f"{len(venues)} venue{'s' if len(venues) != 1 else ''}")
    return EXIT_OK


def _token_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="issue a token; prints it as the last word")
    add.add_argument("--role", required=True, choices=[r.value for r in ISSUABLE_ROLES],
                     help="what the token may do: admin registers venues and issues tokens, "
                     "authority reports cases and reads per-person data, dashboard reads "
                     "aggregates, notifier reads the live alert stream")
    add.add_argument("--label", help="who or what the token is for")
    add.add_argument("--expires-in", metavar="DURATION",
                     help="valid for this long: 90m, 12h, 30d (default: until revoked)")
    listing = actions.add_parser("list", help="every token's id, role, label and state")
    listing.add_argument("--json", action="store_true", help="one JSON document")
    revoke = actions.add_parser("revoke", help="revoke a token by its id (from `token list`)")
    revoke.add_argument("token_id", help="the token's id, or its first 6 or more characters")


def run_token(args: argparse.Namespace, settings: IngestSettings) -> int:
    try:
        if args.action == "list":
            return _print_tokens(list_tokens(settings), as_json=args.json)
        if args.action == "revoke":
            revoked = revoke_token(settings, args.token_id)
            console.print(f"revoked {revoked.role.value} token {revoked.token_id} "
                          f"({revoked.label or 'no label'})")
            return EXIT_OK
        token = add_token(settings, role=args.role, label=args.label, expires_in=args.expires_in)
    except CommandError as exc:
        errors.print(f"error: {exc}")
        return EXIT_USAGE
    console.print(f"{args.role} token (shown once; only its hash is stored): {token}")
    return EXIT_OK


def _print_tokens(tokens: list[TokenRecord], *, as_json: bool) -> int:
    now = utc_now()

    def state(token: TokenRecord) -> str:
        return "revoked" if token.revoked else "active" if token.valid_at(now) else "expired"

    rows = [{"id": t.token_id, "role": t.role.value, "label": t.label, "state": state(t),
             "created_at": t.created_at.isoformat(),
             "expires_at": t.expires_at.isoformat() if t.expires_at else None} for t in tokens]
    if as_json:
        console.print_json(json.dumps({"tokens": rows}))
        return EXIT_OK
    table = Table("id", "role", "label", "state", "created", "expires")
    for row in rows:
        table.add_row(*(str(row[k] or "-") for k in
                        ("id", "role", "label", "state", "created_at", "expires_at")))
    console.print(table)
    return EXIT_OK


def run_fetch(args: argparse.Namespace, settings: IngestSettings) -> int:
    libs = kafka.ensure_jars(settings)
    console.print(f"Kafka broker jars ready in {libs}")
    return EXIT_OK


def _trace_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("case_id", help="the case to show")
    parser.add_argument("--json", action="store_true",
                        help="one JSON document: the case, counts, alerts and chain")


def run_trace(args: argparse.Namespace, settings: IngestSettings) -> int:
    return trace(settings, args.case_id, console=console, as_json=args.json)


# --- cases, through the ingest API as an authority -------------------------------------------


def _case_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    report = actions.add_parser("report", help="report a confirmed case (F0); alerts follow")
    report.add_argument("case_id", help="the authority's id of the case, e.g. HN-2026-0001")
    report.add_argument("--person-id", required=True,
                        help="the person's code or phone number, as a venue's scanner reads it")
    report.add_argument("--onset-at", type=_aware_time, metavar="TIME",
                        help="symptom onset, ISO 8601 with a zone (this or --sampled-at)")
    report.add_argument("--sampled-at", type=_aware_time, metavar="TIME",
                        help="when the positive sample was taken, ISO 8601 with a zone")
    report.add_argument("--reported-at", type=_aware_time, metavar="TIME",
                        help="when the case was confirmed (default: now)")
    report.add_argument("--isolated-at", type=_aware_time, metavar="TIME",
                        help="when the person was isolated (ends the infectious window)")
    withdraw = actions.add_parser("withdraw", help="withdraw a mistaken case and its alerts")
    withdraw.add_argument("case_id", help="the case to withdraw")
    withdraw.add_argument("--reason", help="why, kept with the withdrawal")
    for sub in (report, withdraw):
        sub.add_argument("--token", default=os.environ.get("TRUYVET_TOKEN"),
                         help="an authority token (default: $TRUYVET_TOKEN)")
        sub.add_argument("--ingest-url", help="ingest API (default: from TRUYVET_INGEST_*)")


def _aware_time(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time, e.g. 2026-11-22T08:00+07:00") from exc
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a zone, e.g. {text}+07:00")
    return moment


def run_case(args: argparse.Namespace, settings: IngestSettings) -> int:
    if not args.token:
        errors.print("error: an authority token is needed: --token, or TRUYVET_TOKEN "
                     "(`truyvet token add --role authority` issues one)")
        return EXIT_USAGE
    url = (args.ingest_url or f"http://{settings.ingest_host}:{settings.ingest_port}").rstrip("/")
    try:
        if args.action == "withdraw":
            accepted = withdraw_case(url, args.token, args.case_id, args.reason)
        else:
            body = case_body(case_id=args.case_id, person_id=args.person_id,
                             reported_at=args.reported_at or utc_now(), onset_at=args.onset_at,
                             sampled_at=args.sampled_at, isolated_at=args.isolated_at)
            accepted = report_case(url, args.token, body)
    except CommandError as exc:
        errors.print(f"error: {exc}")
        return EXIT_USAGE if args.action == "report" else EXIT_FAILED
    console.print(f"case {accepted['case_id']}: {accepted['status']}")
    return EXIT_OK


def _audit_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--since", required=True, type=_since,
                        help="ISO date or time (UTC if no zone), e.g. 2026-12-01")
    parser.add_argument("--json", action="store_true", help="one JSON object a line")


def _since(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO date or time, e.g. 2026-12-01") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def run_audit(args: argparse.Namespace, settings: IngestSettings) -> int:
    return audit(settings, args.since, as_json=args.json, console=console)


# --- authority keys and contact lists (the sealed directory) -----------------------------------


def _authority_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    keygen = actions.add_parser("keygen", help="a new X25519 key pair: the private key to a file "
                                "(mode 0600, keep it offline), the public key line printed")
    keygen.add_argument("--out", type=Path, required=True, help="the private key file to write")


def run_authority(args: argparse.Namespace, settings: IngestSettings) -> int:
    try:
        line = generate_key(args.out)
    except OpenError as exc:
        errors.print(f"error: {exc}")
        return EXIT_FAILED
    errors.print(f"private key written to {args.out} (mode 0600): keep it offline; configure "
                 "the servers with the public key below")
    console.print(f"TRUYVET_AUTHORITY_PUBLIC_KEYS={line}")
    return EXIT_OK


def _contacts_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    opening = actions.add_parser("open", help="open the sealed identifiers of an exported "
                                 "contact list (contacts.csv or contacts.json) into a CSV")
    opening.add_argument("file", type=Path, help="the exported contact list")
    opening.add_argument("--key", type=Path, action="append", required=True,
                         help="an authority private key file (repeat for rotated keys)")
    opening.add_argument("--out", type=Path, help="write the CSV here (default: stdout)")


def run_contacts(args: argparse.Namespace, settings: IngestSettings) -> int:
    try:
        opened = open_contacts(args.file.read_text(), read_keys(args.key))
    except (OSError, OpenError) as exc:
        errors.print(f"error: {exc}")
        return EXIT_FAILED
    if args.out:
        descriptor = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(opened.csv())
    else:
        console.file.write(opened.csv())
    errors.print(f"{opened.opened} of {len(opened.rows)} identifiers opened; "
                 f"{opened.other_key} sealed to another key, {opened.unsealed} with no sealed "
                 f"copy, {opened.failed} that did not open")
    return EXIT_OK if opened.opened or not opened.rows else EXIT_FAILED


def _exposure_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="declare an exposure event (again, to correct it)")
    add.add_argument("--id", dest="event_id", required=True, help="the event's id")
    add.add_argument("--venue", required=True, help="the venue's id")
    add.add_argument("--start", required=True, type=_since, help="window start (ISO 8601)")
    add.add_argument("--end", required=True, type=_since, help="window end (ISO 8601)")
    add.add_argument("--message", default="", help="shown to the people alerted")
    add.add_argument("--action", dest="ask", default="inform",
                     choices=["inform", "test", "isolate"], help="what they are asked to do")
    add.add_argument("--min-presence", type=int, default=0, metavar="SECONDS",
                     help="least overlap with the window that alerts (default 0: any)")
    add.add_argument("--with-contacts", action="store_true",
                     help="also alert the contacts of those present, after their presence")
    withdraw = actions.add_parser("withdraw", help="withdraw an event and all its alerts")
    withdraw.add_argument("event_id", help="the event's id")
    confirm = actions.add_parser("confirm-cluster",
                                 help="declare the exposure event of a detected cluster")
    confirm.add_argument("cluster_id", help="the cluster's id (from the clusters topic or table)")
    confirm.add_argument("--message", default="", help="shown to the people alerted")
    confirm.add_argument("--action", dest="ask", default="test",
                         choices=["inform", "test", "isolate"],
                         help="what they are asked to do (default: test)")
    confirm.add_argument("--with-contacts", action="store_true",
                         help="also alert the contacts of those present, after their presence")
    actions.add_parser("pause", help="stop sending venue alerts (events are still held)")
    actions.add_parser("resume", help="send venue alerts again, everything held included")


def run_exposure(args: argparse.Namespace, settings: IngestSettings) -> int:
    if args.action in ("pause", "resume"):
        set_venue_alerts_paused(settings.shared(), args.action == "pause")
        console.print(f"venue alerts {args.action}d (the alerts workers see it within "
                      f"{settings.exposure_recheck_s:g} s)")
        return EXIT_OK
    if args.action == "confirm-cluster":
        try:
            declared = confirm_cluster(settings.shared(), args.cluster_id, message=args.message,
                                       action=args.ask, with_contacts=args.with_contacts)
        except ExposureCommandError as exc:
            errors.print(f"error: {exc}")
            return EXIT_USAGE
        console.print(f"exposure event {declared.event_id} declared at {declared.venue_id}")
        return EXIT_OK
    if args.action == "withdraw":
        withdraw_event(settings.shared(), args.event_id)
        console.print(f"exposure event {args.event_id} withdrawn")
        return EXIT_OK
    try:
        declared = declare_event(
            settings.shared(), event_id=args.event_id, venue_id=args.venue, start=args.start,
            end=args.end, message=args.message, action=args.ask,
            min_presence_s=args.min_presence, with_contacts=args.with_contacts)
    except ExposureCommandError as exc:
        errors.print(f"error: {exc}")
        return EXIT_USAGE
    console.print(f"exposure event {declared.event_id} declared at {declared.venue_id}, "
                  f"{declared.start.isoformat()} to {declared.end.isoformat()}")
    return EXIT_OK


COMMANDS: tuple[Command, ...] = (
    Command("up", "start the local stack (Kafka, ClickHouse, services); idempotent", run_up,
            _up_arguments),
    Command("down", "stop what `up` started", run_down),
    Command(
        "status",
        "state and health of each part; exit 0 iff all healthy",
        run_status,
        _status_arguments,
    ),
    Command("venue", "manage venues (venue add …, venue list, venue rotate-key ID)", run_venue,
            _venue_arguments),
    Command("token", "issue, list and revoke API tokens (token add --role …)", run_token,
            _token_arguments),
    Command("fetch", "resolve the Kafka broker jars from Maven Central (once)", run_fetch),
    Command("trace", "a case's F1/F2 alerts and transmission chain", run_trace,
            _trace_arguments),
    Command("case", "report or withdraw a case through the ingest API (case report ID …)",
            run_case, _case_arguments),
    Command("audit", "who reported, withdrew and read per-person data since a time",
            run_audit, _audit_arguments),
    Command("authority", "the health authority's key pair (authority keygen --out FILE)",
            run_authority, _authority_arguments),
    Command("contacts", "open an exported contact list (contacts open FILE --key KEYFILE)",
            run_contacts, _contacts_arguments),
    Command("exposure", "venue exposure events (exposure add|withdraw) and the venue alerts' "
            "kill switch (exposure pause|resume)", run_exposure, _exposure_arguments),
    Command("simulate", "push a synthetic city through the ingest API", run_simulate,
            simulate_arguments),
    Command("demo", "simulate a city, report 3 cases and show their alerts", run_demo,
            demo_arguments),
)


def _version() -> str:
    try:
        return metadata.version("truyvet")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="truyvet",
        description="Contact tracing from venue QR check-ins. Settings come from TRUYVET_* "
        "environment variables.",
    )
    parser.add_argument("--version", action="version", version=f"truyvet {_version()}",
                        help="print truyvet's version and exit")
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        sub = subcommands.add_parser(command.name, help=command.help, description=command.help)
        command.arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # The clients log every refused connection (with a traceback) while a server is still
    # starting; the stack reports what matters itself.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    logging.getLogger("clickhouse_driver").setLevel(logging.CRITICAL)
    try:
        # The operator's CLI is on ingest's side: `venue add` prints the signed QR payload.
        settings = with_local_secrets(IngestSettings())
        if getattr(args, "kafka_brokers", None) is not None:  # `up --kafka-brokers N`
            settings = settings.model_copy(update={"kafka_brokers": args.kafka_brokers})
    except ValidationError as exc:
        lines = "\n".join(f"  {line}" for line in validation_lines(exc, env_prefix="TRUYVET_"))
        errors.print(f"[red]error:[/] invalid settings:\n{escape(lines)}", markup=True)
        return EXIT_USAGE
    try:
        # Every broker of a local cluster in the bootstrap: a command works while one is down.
        settings = kafka.with_cluster(settings)
        code: int = args.run(args, settings)
    except StackError as exc:
        errors.print(f"[red]error:[/] {escape(str(exc))}", markup=True)
        return EXIT_FAILED
    except KeyboardInterrupt:
        errors.print("interrupted")
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
