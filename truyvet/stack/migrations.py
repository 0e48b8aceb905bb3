"""Apply ``deploy/clickhouse/migrations/NNNN_name.sql`` to the configured ClickHouse database.

Each file runs once per database, in version order, and is recorded in the database's
``schema_migrations`` table with a checksum of its text. Statements run with the target database
as the connection's default database, so migration files use unqualified table names.

Data rows cannot be written inline (``INSERT … VALUES (…)``): over the native protocol the client,
not the server, parses inline rows, and ClickHouse 18.16 waits for them forever. Seed data is
written as ``INSERT INTO t SELECT …``; such files are refused with that advice before anything runs.

ClickHouse has no transactional DDL: a file that fails half-way stays half-applied and is run again
from its first statement next time, so migrations are written to be re-runnable
(``CREATE TABLE IF NOT EXISTS`` …). Running two appliers against one database at the same time is
not supported (``truyvet up`` and the test fixtures run it once, before the services start).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

from clickhouse_driver import Client

from services.core.config import Settings
from truyvet.stack import clickhouse
from truyvet.stack.layout import DEPLOY_DIR
from truyvet.stack.processes import StackError

MIGRATIONS_DIR = DEPLOY_DIR / "clickhouse" / "migrations"
MIGRATIONS_TABLE = "schema_migrations"  # spelled out in the SQL below
_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<label>[A-Za-z0-9_]+)\.sql$")
_INLINE_ROWS_ADVICE = (
    "inline rows (INSERT … VALUES / FORMAT) cannot be sent over the native protocol; "
    "write INSERT INTO … SELECT … instead"
)
_INLINE_ROWS = re.compile(r"^\s*INSERT\b.*\b(VALUES|FORMAT)\b", re.IGNORECASE | re.DOTALL)


class MigrationError(StackError):
    """The migrations cannot be applied as they are (bad file names, an edited applied file…)."""


@dataclass(frozen=True)
class Migration:
    """One ``NNNN_name.sql`` file."""

    version: str  # "0003"
    name: str  # "0003_contacts", what apply_migrations() reports
    path: Path

    @cached_property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def statements(self) -> list[str]:
        statements = split_statements(self.sql)
        for number, statement in enumerate(statements, start=1):
            if _INLINE_ROWS.match(_without_comments(statement)):
                raise MigrationError(f"{self.path}, statement {number}: {_INLINE_ROWS_ADVICE}")
        return statements


def split_statements(sql: str) -> list[str]:
    """Split a migration file into statements: a line ending in ``;`` ends a statement.

    The ``;`` is dropped (the native protocol takes one statement without it); comment-only and
    blank statements are skipped, and a ``--`` comment line never ends a statement.

    Examples:
        >>> split_statements("-- a table\\nCREATE TABLE a (x UInt8)\\nENGINE = Memory;\\nSELECT 1;")
        ['-- a table\\nCREATE TABLE a (x UInt8)\\nENGINE = Memory', 'SELECT 1']
        >>> split_statements("-- nothing here;\\n\\n")
        []
    """
    statements: list[str] = []
    current: list[str] = []
    for line in sql.splitlines():
        current.append(line)
        stripped = line.strip()
        if stripped.endswith(";") and not stripped.startswith("--"):
            current[-1] = line.rstrip()[:-1]
            statements.append("\n".join(current).strip())
            current = []
    statements.append("\n".join(current).strip())
    return [s for s in statements if _has_code(s)]


def _without_comments(statement: str) -> str:
    return "\n".join(
        line for line in statement.splitlines() if not line.strip().startswith("--")
    ).strip()


def _has_code(statement: str) -> bool:
    return bool(_without_comments(statement))


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files of ``directory``, in version order (a missing folder has none)."""
    if not directory.is_dir():
        return []
    migrations: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise MigrationError(
                f"{path}: migration files are named NNNN_name.sql (4 digits, letters, digits, _)"
            )
        migrations.append(Migration(match["version"], path.stem, path))
    versions = [m.version for m in migrations]
    duplicates = sorted({v for v in versions if versions.count(v) > 1})
    if duplicates:
        raise MigrationError(f"{directory}: more than one migration numbered {duplicates}")
    return migrations


def applied_versions(settings: Settings) -> dict[str, str]:
    """``{version: checksum}`` of the migrations recorded in ``settings.clickhouse_database``."""
    client = clickhouse.connect(settings, database=settings.clickhouse_database)
    try:
        return _applied(client)
    finally:
        client.disconnect()


def _applied(client: Client) -> dict[str, str]:
    rows = client.execute("SELECT version, checksum FROM schema_migrations")
    return {version: checksum for version, checksum in rows}


def apply_migrations(settings: Settings, *, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Create the database if needed and apply the migrations it has not seen; return their names.

    Raises :class:`MigrationError` when an applied file has been edited since: the database no
    longer matches what the file says, and silently skipping it would hide that.
    """
    migrations = discover(directory)
    statements = {m.version: m.statements for m in migrations}  # refuses bad files up front
    database = settings.clickhouse_database  # validated by Settings: safe as an identifier
    client = clickhouse.connect(settings)
    try:
        client.execute(f"CREATE DATABASE IF NOT EXISTS {database}")
    finally:
        client.disconnect()

    client = clickhouse.connect(settings, database=database)
    try:
        client.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version String, name String, checksum String, applied_at DateTime('UTC')"
            ") ENGINE = MergeTree() ORDER BY version"
        )
        applied = _applied(client)
        done: list[str] = []
        for migration in migrations:
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"{migration.path} changed after it was applied to database {database}. "
                        "Add a new migration instead; for a throw-away development database, "
                        f"DROP DATABASE {database} and run `truyvet up` again."
                    )
                continue
            for number, statement in enumerate(statements[migration.version], start=1):
                try:
                    client.execute(statement)
                except Exception as exc:
                    raise MigrationError(
                        f"{migration.name}, statement {number} failed on database {database}: "
                        f"{_server_message(exc)}\n{statement}"
                    ) from exc
            client.execute(
                "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES",
                [(migration.version, migration.name, migration.checksum, datetime.now(UTC))],
            )
            done.append(migration.name)
        return done
    finally:
        client.disconnect()


def _server_message(exc: Exception) -> str:
    # ClickHouse 18.16 appends its C++ stack trace to every error: keep the part a person reads.
    return str(exc).split("Stack trace:")[0].strip()
