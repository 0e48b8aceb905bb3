"""ClickHouse connections, built from settings when a service starts (never at import)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from clickhouse_driver import Client

from services.core.config import Settings


def clickhouse_client(settings: Settings, *, database: bool = True) -> Client:
    return Client(
        host=settings.clickhouse_host,
        port=settings.clickhouse_port,
        user=settings.clickhouse_user,
        password=settings.clickhouse_password.get_secret_value(),
        database=settings.clickhouse_database if database else "default",
        connect_timeout=5,
        send_receive_timeout=60,
        settings={"use_client_time_zone": False},
    )


def utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def utc_day(seconds: int) -> date:
    return datetime.fromtimestamp(seconds, UTC).date()
