"""The tracer's one ClickHouse adapter: batched, idempotent inserts and day-partition purges."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from clickhouse_driver import Client
from clickhouse_driver.errors import Error as ClickHouseError

from services.core.clickhouse import clickhouse_client
from services.core.config import Settings

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
    """

    def __init__(self, settings: Settings, retry_cap_s: float = 10.0) -> None:
        self._settings = settings
        self._retry_cap_s = retry_cap_s
        self._client: Client | None = None

    def _connected(self) -> Client:
        if self._client is None:
            self._client = clickhouse_client(self._settings)
        return self._client

    def write(self, rows: SinkRows) -> None:
        """Insert every table's rows, retrying with back-off while ClickHouse is unreachable."""
        pending = [table for table in _INSERTS if len(getattr(rows, table))]
        delay = 0.2
        while pending:
            table = pending[0]
            try:
                # Copies, because the driver converts the values in place and a retry needs
                # them as they were.
                columns = [list(column) for column in getattr(rows, table).columns]
                self._connected().execute(_INSERTS[table], columns, columnar=True)
            except (ClickHouseError, OSError, EOFError) as exc:
                log.warning("ClickHouse insert into %s failed (%r); retrying in %.1fs", table, exc,
                            delay)
                self._disconnect()
                time.sleep(delay)
                delay = min(self._retry_cap_s, delay * 2)
                continue
            pending.pop(0)
            delay = 0.2

    def drop_days_before(self, cutoff: date) -> list[str]:
        """Drop whole day partitions older than ``cutoff`` from the retention tables (rule 10)."""
        client = self._connected()
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

    def _disconnect(self) -> None:
        if self._client is not None:
            self._client.disconnect()
            self._client = None

    def close(self) -> None:
        self._disconnect()
