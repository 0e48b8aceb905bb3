"""Fixtures that run the ingest service for real against the test stack, and a current
ClickHouse (chdb, in-process) with the project's migrations applied."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from schemas.registry import Role
from services.core.config import Settings
from tests.support.processes import running_http_service
from tests.support.stack import grant, isolated_settings
from truyvet.stack.migrations import discover, split_statements

CURRENT_DB = "truyvet"

HEAD_TIMEOUT_S = 2.0
BODY_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class IngestUnderTest:
    settings: Settings
    url: str
    admin: str
    authority: str
    dashboard: str

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def add_venue(self, **body: object) -> dict[str, str]:
        with self.client(self.admin) as http:
            answer = http.post("/v1/venues", json={"name": "Test venue", "kind": "office", **body})
        assert answer.status_code == 201, answer.text
        created: dict[str, str] = answer.json()
        return created


@pytest.fixture(scope="module")
def ingest(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestUnderTest]:
    state_dir: Path = tmp_path_factory.mktemp("ingest")
    # Short connection deadlines, so tests/integration/test_ingest.py can show them at work.
    settings = isolated_settings(stack, state_dir, http_header_timeout_s=HEAD_TIMEOUT_S,
                                 http_body_timeout_s=BODY_TIMEOUT_S)
    tokens = {role: grant(settings, role) for role in (Role.ADMIN, Role.AUTHORITY, Role.DASHBOARD)}
    url = f"http://{settings.ingest_host}:{settings.ingest_port}"
    with running_http_service("services.ingest", settings, url, state_dir / "ingest.log"):
        yield IngestUnderTest(settings, url, tokens[Role.ADMIN], tokens[Role.AUTHORITY],
                              tokens[Role.DASHBOARD])


@pytest.fixture(scope="module")
def current() -> Iterator[Any]:
    """A chdb session (current ClickHouse) on database ``truyvet``, every migration applied."""
    from chdb import session as chdb_session  # ~530 MB: loaded only by the tests that use it

    session = chdb_session.Session()
    session.query(f"CREATE DATABASE IF NOT EXISTS {CURRENT_DB}")
    session.query(f"USE {CURRENT_DB}")
    for migration in discover():
        for statement in split_statements(migration.path.read_text()):
            session.query(statement)
    yield session
    session.cleanup()


def rows(session: Any, query: str) -> list[list[str]]:
    """``query``'s answer from a chdb session, as rows of TSV fields."""
    text = str(session.query(query, "TSV")).strip()
    return [line.split("\t") for line in text.splitlines()] if text else []
