"""Conventions against a real ingest service: refusals as problem+json with their fields kept,
unknown query parameters refused on every route, and the CLI's ``venue list``, ``case report``
and ``case withdraw``."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import sync_playwright

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


def test_refusals_are_problem_json_keeping_error_detail_and_errors(
    ingest: IngestUnderTest,
) -> None:
    with ingest.client() as http:
        anonymous = http.post("/v1/cases", json={})
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert anonymous.json()["error"] == "unauthorized" and anonymous.json()["status"] == 401
    with ingest.client(ingest.authority) as http:
        bad = http.post("/v1/cases", json={"case_id": "P-1", "person_id": "0912345678",
                                           "reported_at": "yesterday"})
    body = bad.json()
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert (body["type"], body["title"], body["status"], body["error"]) == (
        "urn:truyvet:problem:invalid", "Unprocessable Entity", 422, "invalid")
    assert ["body", "reported_at"] in [e["loc"] for e in body["errors"]]


def test_an_unknown_query_parameter_is_refused_on_ingest_routes(ingest: IngestUnderTest) -> None:
    venue = ingest.add_venue()
    with ingest.client(venue["api_key"]) as http:
        answer = http.post("/v1/scans", params={"dry_run": "1"}, json=[])
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"] == "unknown_parameter"
    with httpx.Client(base_url=ingest.url) as http:
        assert http.get("/healthz", params={"verbose": "1"}).status_code == 422


def test_a_resent_request_is_counted_as_replayed_not_accepted_again(
    ingest: IngestUnderTest,
) -> None:
    venue = ingest.add_venue()
    body = [{"event_id": f"replay-{n}", "venue_id": venue["venue_id"], "person_id": "0912345678",
             "direction": "in", "scanned_at": datetime.now(UTC).isoformat()} for n in range(3)]
    with ingest.client(venue["api_key"]) as gate:
        first = gate.post("/v1/scans", json=body[:2]).json()
        again = gate.post("/v1/scans", json=body).json()
    assert (first["accepted"], first["replayed"]) == (2, 0)
    assert (again["accepted"], again["replayed"], again["duplicates_in_request"]) == (1, 2, 0)


# --- the venue's door poster -----------------------------------------------------------------

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def _rendered(svg: str, tmp_path: Path) -> Image.Image:
    """The poster as headless Chromium draws it, at 96 dpi (an A4 page is 794 × 1123 px)."""
    page_file = tmp_path / "poster.svg"
    page_file.write_text(svg)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 794, "height": 1123})
            page.goto(page_file.as_uri())
            png = page.screenshot(path=str(tmp_path / "poster.png"))  # kept with the test
        finally:
            browser.close()
    return Image.open(io.BytesIO(png))


def test_the_poster_is_an_a4_page_whose_qr_decodes_to_the_signed_payload(
    ingest: IngestUnderTest, tmp_path: Path,
) -> None:
    venue = ingest.add_venue(name="Phở 24 Lý Quốc Sư", address="24 Lý Quốc Sư, Hà Nội")
    with ingest.client(venue["api_key"]) as http:
        answer = http.get(f"/v1/venues/{venue['venue_id']}/poster.svg")
        other = ingest.add_venue()
        refused = http.get(f"/v1/venues/{other['venue_id']}/poster.svg")
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/svg+xml"
    assert refused.status_code == 403  # a venue key reads only its own venue's poster
    svg = answer.text
    assert 'width="210mm" height="297mm"' in svg
    assert "Phở 24 Lý Quốc Sư" in svg and "Quét mã này khi vào" in svg
    assert "Scan this code when you enter" in svg
    found = zxingcpp.read_barcodes(_rendered(svg, tmp_path))
    assert [code.text for code in found] == [venue["qr_payload"]]
    with ingest.client() as http:
        check = http.post("/v1/qr/verify", json={"payload": found[0].text})
    assert check.status_code == 200 and check.json()["venue_id"] == venue["venue_id"]
