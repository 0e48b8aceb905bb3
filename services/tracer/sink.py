"""The tracer's one ClickHouse adapter: batched, idempotent inserts and day-partition purges."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from clickhouse_driver import Client
from clickhouse_driver.errors import Error as ClickHouseError

from services.core.clickhouse import clickhouse_client
from services.core.config import Settings
from services.core.metrics import observed_insert

log = logging.getLogger(__name__)

RETENTION_TABLES = ("scans", "visits", "visits_by_person", "contacts")

_INSERTS = {
    "scans": "INSERT INTO scans (day, venue_id, event_id, person_id, direction, scanned_at, gate,"
    " ingested_at, version) VALUES",
    "visits": "INSERT INTO visits (day, venue_id, person_id, started_at, ended_at, visit_id,"
    " deleted, version) VALUES",
    "contacts": "INSERT INTO contacts (day, venue_id, started_at, ended_at, contact_id, person_a,"
    " person_b, deleted, version) VALUES",
}
# ``visits_by_person`` is filled from ``visits`` by ClickHouse (migration 0005).


class TableRows:
    """One table's rows held as columns (one list per column, in the order of its INSERT).

    Rows are added a column at a time (``extend``), which is how the driver sends them: building
    a tuple per row and transposing them later costs more than the insert itself.
    """

    __slots__ = ("columns",)

    def __init__(self, width: int) -> None:
        self.columns: tuple[list[Any], ...] = tuple([] for _ in range(width))

    def __len__(self) -> int:
        return len(self.columns[0])

    def extend(self, *columns: Sequence[Any]) -> None:
        """Add rows given column by column (all of the same length)."""
        for held, more in zip(self.columns, columns, strict=True):
            held.extend(more)

    def rows(self) -> list[tuple[Any, ...]]:
        """The rows as tuples (for tests and debugging)."""
        return list(zip(*self.columns, strict=True))


def _columns(table: str) -> int:
    return _INSERTS[table].count(",") + 1


@dataclass(slots=True)
class SinkRows:
    """Rows for each table, as columns in the order of :data:`_INSERTS`.

    ``DateTime`` columns take epoch seconds and ``Date`` columns day numbers (ints): the driver
    sends them as they are (see :mod:`services.core.clickhouse`), where an aware ``datetime`` or
    a ``date`` costs it a conversion per value.
    """

    scans: TableRows = field(default_factory=lambda: TableRows(_columns("scans")))
    visits: TableRows = field(default_factory=lambda: TableRows(_columns("visits")))
    contacts: TableRows = field(default_factory=lambda: TableRows(_columns("contacts")))

    def __len__(self) -> int:
        return len(self.scans) + len(self.visits) + len(self.contacts)


class ClickHouseSink:
    """Writes derived rows; a failed write is retried until it lands, never skipped.

    Rows are versioned ReplacingMergeTree rows with deterministic keys, so writing the same rows
    again after a crash changes nothing a ``FINAL`` query returns.

    The tables are written at the same time, each over a connection of its own: an insert spends
    most of its time waiting for the server, and one table's wait need not hold up the others.
    Calls to :meth:`write` and :meth:`drop_days_before` must not overlap (the tracer makes them
    from one thread).
    """

    def __init__(self, settings: Settings, retry_cap_s: float = 10.0) -> None:
        self._settings = settings
        self._retry_cap_s = retry_cap_s
        # One client per table (a client is not thread-safe), and one for purges.
        self._clients: dict[str, Client | None] = dict.fromkeys([*_INSERTS, "purge"])
        self._inserts = ThreadPoolExecutor(max_workers=len(_INSERTS),
                                           thread_name_prefix="clickhouse-insert")

    def _connected(self, use: str) -> Client:
        client = self._clients[use]
        if client is None:
            client = self._clients[use] = clickhouse_client(self._settings)
        return client

    def write(self, rows: SinkRows) -> None:
        """Insert every table's rows, retrying with back-off while ClickHouse is unreachable."""
        writes = [self._inserts.submit(self._write_table, table, getattr(rows, table))
                  for table in _INSERTS if len(getattr(rows, table))]
        # All of them end before this returns or raises: a next call must find no table's
        # client still in use.
        wait(writes)
        for written in writes:
            written.result()

    def _write_table(self, table: str, rows: TableRows) -> None:
        delay = 0.2
        while True:
            try:
                # Copies, because the driver converts the values in place and a retry needs
                # them as they were.
                columns = [list(column) for column in rows.columns]
                observed_insert(self._connected(table), table, _INSERTS[table], columns,
                                columnar=True)
                return
            except (ClickHouseError, OSError, EOFError) as exc:
                log.warning("ClickHouse insert into %s failed (%r); retrying in %.1fs", table, exc,
                            delay)
                self._disconnect(table)
                time.sleep(delay)
                delay = min(self._retry_cap_s, delay * 2)

    def drop_days_before(self, cutoff: date) -> list[str]:
        """Drop whole day partitions older than ``cutoff`` from the retention tables (rule 10)."""
        client = self._connected("purge")
        dropped = []
        for table in RETENTION_TABLES:
            partitions = client.execute(
                "SELECT DISTINCT partition FROM system.parts WHERE database = %(db)s"
                " AND table = %(table)s AND active",
                {"db": self._settings.clickhouse_database, "table": table},
            )
            for (partition,) in partitions:
                if date.fromisoformat(partition) < cutoff:
                    client.execute(f"ALTER TABLE {table} DROP PARTITION '{partition}'")
                    dropped.append(f"{table}:{partition}")
        return dropped

    def _disconnect(self, use: str) -> None:
        client = self._clients[use]
        if client is not None:
            client.disconnect()
            self._clients[use] = None

    def close(self) -> None:
        self._inserts.shutdown()
        for use in self._clients:
            self._disconnect(use)
