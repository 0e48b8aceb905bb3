"""``truyvet venue list``, ``case report`` and ``case withdraw`` against a real ingest service."""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import IngestUnderTest
from truyvet.cli import main


@pytest.fixture
def cli_env(ingest: IngestUnderTest, monkeypatch: pytest.MonkeyPatch) -> IngestUnderTest:
    for name, value in ingest.settings.as_env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TRUYVET_TOKEN", raising=False)
    return ingest


def test_venue_list_shows_the_registered_venues(
    cli_env: IngestUnderTest, capsys: pytest.CaptureFixture[str],
) -> None:
    cli_env.add_venue(venue_id="cli-pho-24", name="Phở 24 Lý Quốc Sư", kind="restaurant")
    capsys.readouterr()
    assert main(["venue", "list", "--json"]) == 0
    venues = {v["venue_id"]: v for v in json.loads(capsys.readouterr().out)["venues"]}
    assert venues["cli-pho-24"]["name"] == "Phở 24 Lý Quốc Sư"
    assert "api_key" not in venues["cli-pho-24"] and "key_sha256" not in venues["cli-pho-24"]
    assert main(["venue", "list"]) == 0
    table = capsys.readouterr().out  # an 80-column terminal wraps the name: look for a word
    assert "Phở" in table and "restaurant" in table and table.rstrip().endswith("venue")


def test_case_report_and_withdraw_go_through_the_api_as_an_authority(
    cli_env: IngestUnderTest, capsys: pytest.CaptureFixture[str],
) -> None:
    report = ["case", "report", "CLI-0001", "--person-id", "0912345678",
              "--onset-at", "2026-11-22T00:00+07:00", "--token", cli_env.authority]
    assert main(report) == 0
    assert "case CLI-0001: reported" in capsys.readouterr().out
    assert main(["case", "withdraw", "CLI-0001", "--token", cli_env.authority,
                 "--reason", "test"]) == 0
    assert "case CLI-0001: withdrawn" in capsys.readouterr().out


def test_case_commands_refused_by_the_api_say_why(
    cli_env: IngestUnderTest, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRUYVET_TOKEN", cli_env.dashboard)
    assert main(["case", "report", "CLI-0002", "--person-id", "0912345678",
                 "--onset-at", "2026-11-22T00:00+07:00"]) == 2
    assert "refused (403 forbidden)" in capsys.readouterr().err
    assert main(["case", "withdraw", "NEVER-REPORTED", "--token", cli_env.authority]) == 1
    assert "refused (404 not_found): no case 'NEVER-REPORTED' was ever reported" in (
        capsys.readouterr().err)
