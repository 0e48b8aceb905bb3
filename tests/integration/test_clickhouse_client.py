"""The ClickHouse client the services share, against the real server."""

from __future__ import annotations

from datetime import date

from clickhouse_driver import Client

from services.core.clickhouse import clickhouse_client
from services.core.config import DAY_S, Settings


def test_a_date_column_takes_day_numbers_and_dates_alike(settings: Settings) -> None:
    client = clickhouse_client(settings)
    try:
        _insert_and_read(client)
    finally:
        client.disconnect()


def _insert_and_read(client: Client) -> None:
    client.execute("CREATE TABLE days (day Date, n UInt8) ENGINE = Memory")
    first = 1_763_800_000 // DAY_S  # 2025-11-22
    client.execute("INSERT INTO days (day, n) VALUES", [[first, first + 1], [1, 2]],
                   columnar=True)
    client.execute("INSERT INTO days (day, n) VALUES", [[date(2025, 11, 24)], [3]],
                   columnar=True)
    assert client.execute("SELECT day, n FROM days ORDER BY n") == [
        (date(2025, 11, 22), 1), (date(2025, 11, 23), 2), (date(2025, 11, 24), 3)]
