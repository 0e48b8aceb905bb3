"""ClickHouse connections, built from settings when a service starts (never at import)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from clickhouse_driver import Client
from clickhouse_driver.columns import service as _column_types
from clickhouse_driver.columns.datecolumn import DateColumn

from services.core.config import Settings


class _DateOrDayNumber(DateColumn):
    """The driver's ``Date`` column, also taking day numbers (days since 1970-01-01, ints).

    The tracer writes a ``day`` with every row it stores, millions of them; converting each
    ``date`` to its day number costs the driver two Python loops over the column, more than all
    the rest of its ``Date`` handling. A column of ints is sent as it is (the driver already
    does this for ``DateTime``); anything else goes the driver's usual way.
    """

    def prepare_items(self, items: Any) -> Any:
        if type(items) is list and set(map(type, items)) <= {int}:
            return items
        return super().prepare_items(items)


def connection_options(settings: Settings) -> dict[str, Any]:
    """Where ClickHouse is and how to log in (user, password, TLS): for every client."""
    options: dict[str, Any] = {
        "host": settings.clickhouse_host,
        "port": settings.clickhouse_port,
        "user": settings.clickhouse_user,
        "password": settings.clickhouse_password.get_secret_value(),
    }
    if settings.clickhouse_secure:
        options.update(secure=True, verify=True)
        if settings.clickhouse_ca_file is not None:
            options["ca_certs"] = str(settings.clickhouse_ca_file)
    return options


def clickhouse_client(settings: Settings, *, database: bool = True) -> Client:
    # The driver picks a column's class from this registry by the column's type name.
    _column_types.column_by_type[DateColumn.ch_type] = _DateOrDayNumber
    return Client(
        **connection_options(settings),
        database=settings.clickhouse_database if database else "default",
        connect_timeout=5,
        send_receive_timeout=60,
        settings={"use_client_time_zone": False},
    )


def utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def utc_day(seconds: int) -> date:
    return datetime.fromtimestamp(seconds, UTC).date()
