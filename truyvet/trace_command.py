"""``truyvet trace CASE_ID``: who a case exposed, as a table, and how, as a tree.

Reads ClickHouse directly (the same queries as the alerts API), so it works for an operator on
the database host without any token. Exposure times are shown in the machine's local time zone,
as a health worker on the phone with an F1 would say them.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from services.alerts.domain import ChainNode, InconsistentAlertsError
from services.alerts.queries import (
    AlertRecord,
    CaseRecord,
    ClickHouseReads,
    StoreUnavailableError,
    chain_of,
)
from services.core.clickhouse import clickhouse_client, utc
from services.core.config import Settings

EXIT_OK = 0
EXIT_FAILED = 1

_SHORT = 12  # hex characters of a pseudonym: unambiguous among millions, readable aloud


def trace(settings: Settings, case_id: str, *, console: Console | None = None,
          as_json: bool = False) -> int:
    """Print case ``case_id``'s current alerts and transmission chain; the exit code.

    Output goes to ``console`` (stdout by default), refusals to stderr unless a console is given.
    With ``as_json``, one JSON document (:func:`trace_document`) instead of the tables.
    """
    out = console or Console(highlight=False, markup=False, soft_wrap=True)
    err = console or Console(stderr=True, highlight=False, markup=False, soft_wrap=True)
    reads = ClickHouseReads(clickhouse_client(settings))
    try:
        case = reads.case(case_id)
        alerts = reads.current_alerts(case_id) if case is not None else []
    except StoreUnavailableError as exc:
        err.print(f"cannot read the alerts store: {exc}", style="red")
        return EXIT_FAILED
    finally:
        reads.close()

    if case is None:
        err.print(f"no case {case_id!r} is known: check the id, or wait a moment if it was "
                  "reported just now", style="red")
        return EXIT_FAILED

    if as_json:
        try:
            document = trace_document(case, alerts)
        except InconsistentAlertsError as exc:
            err.print(f"the chain is being updated ({exc}); run this again in a moment",
                      style="yellow")
            return EXIT_FAILED
        sys.stdout.write(json.dumps(document, default=str) + "\n")
        return EXIT_OK
    out.print(_headline(case, alerts))
    if alerts:
        out.print(alerts_table(case, alerts))
    try:
        root = chain_of(case, alerts)
    except InconsistentAlertsError as exc:
        err.print(f"the chain is being updated ({exc}); run this again in a moment",
                  style="yellow")
        return EXIT_FAILED
    out.print(chain_tree(root))
    return EXIT_OK


def trace_document(case: CaseRecord, alerts: list[AlertRecord]) -> dict[str, Any]:
    """``{"case", "counts", "alerts", "chain"}``: the case, its F1/F2 counts by degree, every
    current alert with rule 8's fields, and the transmission tree; times in ISO 8601 UTC."""
    counts: dict[str, int] = {}
    for alert in alerts:
        counts[f"F{alert.degree}"] = counts.get(f"F{alert.degree}", 0) + 1
    return {
        "case": {key: value.isoformat() if isinstance(value, datetime) else value
                 for key, value in asdict(case).items()},
        "counts": counts,
        "alerts": [alert.model_dump(mode="json") for alert in alerts],
        "chain": chain_of(case, alerts).to_dict(),
    }


def alerts_table(case: CaseRecord, alerts: list[AlertRecord]) -> Table:
    """One row per alert: degree, person, exposure time (local), via whom, where."""
    table = Table(title=f"alerts of case {case.case_id}", title_justify="left")
    table.add_column("degree")
    table.add_column("person")
    table.add_column("exposed at (local)")
    table.add_column("via")
    table.add_column("venues")
    for alert in alerts:
        via = short(alert.via_person_id) if alert.via_person_id else f"F0 {short(case.person_id)}"
        table.add_row(
            Text(f"F{alert.degree}", style="bold red" if alert.degree == 1 else "yellow"),
            Text(short(alert.person_id)),
            Text(local_time(alert.exposed_at)),
            Text(via),
            Text(", ".join(alert.venue_ids)),
        )
    return table


def chain_tree(root: ChainNode) -> Tree:
    """The transmission chain, F0 at the root, each person under the one who exposed them."""
    tree = Tree(Text(f"F0 {short(root.person)}", style="bold"))

    def add(branch: Tree, node: ChainNode) -> None:
        # Depth is bounded by max_degree (at most 6), so recursion is fine.
        for child in node.children:
            when = "" if child.exposed_at is None else local_time(utc(child.exposed_at))
            label = Text(f"F{child.degree} {short(child.person)}  {when}  "
                         f"{', '.join(child.venue_ids)}")
            add(branch.add(label), child)

    add(tree, root)
    return tree


def short(pseudonym: str) -> str:
    """A pseudonym shortened for reading.

    Example:
        >>> short("3f9a0c1b2d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5061728394a5b6c7d8e")
        '3f9a0c1b2d4e…'
    """
    return pseudonym if len(pseudonym) <= _SHORT else pseudonym[:_SHORT] + "…"


def local_time(moment: datetime) -> str:
    """An aware time in the machine's time zone, to the minute, with its UTC offset."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M %z")


def _headline(case: CaseRecord, alerts: list[AlertRecord]) -> str:
    if case.status == "withdrawn":
        when = f" at {local_time(case.withdrawn_at)}" if case.withdrawn_at else ""
        return f"case {case.case_id} was withdrawn{when}; its alerts are retracted"
    by_degree: dict[int, int] = {}
    for alert in alerts:
        by_degree[alert.degree] = by_degree.get(alert.degree, 0) + 1
    counts = ", ".join(f"{n} F{d}" for d, n in sorted(by_degree.items())) or "no alerts (yet)"
    return (f"case {case.case_id}: F0 {short(case.person_id)}, reported "
            f"{local_time(case.reported_at)}: {counts}")
