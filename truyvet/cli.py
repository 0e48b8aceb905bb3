"""The ``truyvet`` command line.

Each subcommand is a :class:`Command` (its arguments and a function from parsed arguments and
settings to an exit code), registered in :data:`COMMANDS` — the one place to add a subcommand.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from services.core.config import Settings
from truyvet.stack import lifecycle
from truyvet.stack.credentials import with_local_secrets
from truyvet.stack.processes import StackError

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
    run: Callable[[argparse.Namespace, Settings], int]
    arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments


# --- up / down / status ----------------------------------------------------------------------


def run_up(args: argparse.Namespace, settings: Settings) -> int:
    result = lifecycle.up(settings, progress=lambda line: console.print(f"  {line}"))
    if result.admin_token:
        console.print(f"admin token: {result.admin_token} (shown once)")
    console.print()
    width = max(len(label) for label in lifecycle.urls(result.settings))
    for label, url in lifecycle.urls(result.settings).items():
        console.print(f"  {label:<{width}}  {url}")
    return EXIT_OK


def run_down(args: argparse.Namespace, settings: Settings) -> int:
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


def run_status(args: argparse.Namespace, settings: Settings) -> int:
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


# --- not there yet ---------------------------------------------------------------------------


def _rest(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)


def _not_available(name: str) -> Callable[[argparse.Namespace, Settings], int]:
    def run(args: argparse.Namespace, settings: Settings) -> int:
        errors.print(f"truyvet {name}: not available yet")
        return EXIT_USAGE

    return run


COMMANDS: tuple[Command, ...] = (
    Command("up", "start the local stack (Kafka, ClickHouse, services); idempotent", run_up),
    Command("down", "stop what `up` started", run_down),
    Command(
        "status",
        "state and health of each part; exit 0 iff all healthy",
        run_status,
        _status_arguments,
    ),
    Command("venue", "manage venues (venue add …)", _not_available("venue"), _rest),
    Command("token", "manage API tokens (token add --role …)", _not_available("token"), _rest),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="truyvet",
        description="Contact tracing from venue QR check-ins. Settings come from TRUYVET_* "
        "environment variables.",
    )
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
        settings = with_local_secrets(Settings())
    except ValidationError as exc:
        errors.print(f"[red]error:[/] invalid TRUYVET_* settings:\n{escape(str(exc))}", markup=True)
        return EXIT_USAGE
    try:
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
