"""Tokens revoked or expired and venue keys rotated stop working on every service within
seconds, open alert streams included (issue 14, finding 8)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from schemas.common import utc_now
from schemas.registry import Role
from services.core.config import IngestSettings
from services.core.registry_log import publish_records_blocking
from services.core.tokens import issue_token
from tests.support.processes import running_http_service, wait_for
from tests.support.stack import isolated_settings
from truyvet.registry_commands import (
    add_token,
    add_venue,
    list_tokens,
    revoke_token,
    rotate_venue_key,
)

WITHIN_S = 10.0  # "within seconds": the followers apply a registry record in about one


@dataclass(frozen=True)
class Services:
    settings: IngestSettings
    ingest: str
    alerts: str


@pytest.fixture(scope="module")
def services(stack: IngestSettings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    state_dir: Path = tmp_path_factory.mktemp("lifecycle")
    settings = isolated_settings(stack, state_dir)
    running = Services(settings, f"http://{settings.ingest_host}:{settings.ingest_port}",
                       f"http://{settings.alerts_host}:{settings.alerts_port}")
    with running_http_service("services.ingest", settings, running.ingest,
                              state_dir / "ingest.log"), \
         running_http_service("services.alerts", settings, running.alerts,
                              state_dir / "alerts.log"):
        yield running


def _whoami(services: Services, token: str) -> int:
    # Any live token may ask who it is (200); a revoked or expired one is a 401.
    return httpx.get(services.alerts + "/v1/whoami", headers={"Authorization": f"Bearer {token}"},
                     timeout=10).status_code


def _report_case(services: Services, token: str) -> int:
    # Authentication comes before the body: 403 for a live non-authority token, 401 for a dead one.
    return httpx.post(services.ingest + "/v1/cases", json={}, timeout=10,
                      headers={"Authorization": f"Bearer {token}"}).status_code


def test_a_revoked_token_is_refused_everywhere_and_its_stream_ends(
    services: Services,
) -> None:
    settings = services.settings
    token = add_token(settings, role="notifier", label="wall screen 3")
    wait_for(lambda: _whoami(services, token) == 200, WITHIN_S, "the new token to work")
    assert _report_case(services, token) == 403
    listed = [t for t in list_tokens(settings) if t.label == "wall screen 3"]
    assert len(listed) == 1 and listed[0].token_sha256 not in token

    with httpx.stream("GET", services.alerts + "/v1/alerts/stream",
                      headers={"Authorization": f"Bearer {token}"},
                      timeout=httpx.Timeout(30, read=20)) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        assert next(lines).startswith("retry:")
        revoked_at = time.monotonic()
        revoke_token(settings, listed[0].token_id)
        for _ in lines:  # ends when the server ends the stream (a hang is a ReadTimeout)
            pass
        assert time.monotonic() - revoked_at < WITHIN_S

    wait_for(lambda: _whoami(services, token) == 401, WITHIN_S, "alerts to refuse it")
    wait_for(lambda: _report_case(services, token) == 401, WITHIN_S, "ingest to refuse it")
    assert [t.revoked for t in list_tokens(settings) if t.label == "wall screen 3"] == [True]


def test_an_expired_token_is_refused(services: Services) -> None:
    settings = services.settings
    token, record = issue_token(Role.DASHBOARD, "short-lived", expires_in=timedelta(seconds=3))
    publish_records_blocking(settings, [record])
    wait_for(lambda: _whoami(services, token) == 200, WITHIN_S, "the token to work")
    assert record.expires_at is not None
    # Polled from now: refused no earlier than its expiry, and within seconds of it.
    wait_for(lambda: _whoami(services, token) == 401, 3 + WITHIN_S, "the expired token refused")
    assert utc_now() >= record.expires_at


def test_a_rotated_venue_key_is_refused_and_the_new_one_works(services: Services) -> None:
    settings = services.settings
    venue = add_venue(settings, name="Rotating cafe", kind="restaurant")
    old_key = venue["api_key"]

    def push(key: str, n: int) -> int:
        scan = {"event_id": f"rot-{n}", "venue_id": venue["venue_id"], "person_id": "0912345678",
                "direction": "in", "scanned_at": utc_now().isoformat()}
        return httpx.post(services.ingest + "/v1/scans", json=scan, timeout=30,
                          headers={"Authorization": f"Bearer {key}"}).status_code

    assert push(old_key, 1) == 202
    new_key = rotate_venue_key(settings, venue["venue_id"])
    wait_for(lambda: push(old_key, 2) == 401, WITHIN_S, "the old key refused")
    assert push(new_key, 3) == 202

