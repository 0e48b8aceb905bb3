"""The dashboard in a real browser (Debian's Chromium, driven by Playwright) over the real
pipeline: scans into ingest expose people, a case reported through the cases API shows up as
F1/F2 alerts in a notifier's live feed without a reload, in an authority's open cases with its
chain and the graph of a venue-day it touches, and as counts only on a dashboard token's page;
its withdrawal marks the alerts retracted. Screenshots go to ``artifacts/dashboard/``.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from kafka import KafkaProducer
from playwright.sync_api import Browser, Page, expect, sync_playwright

from schemas.alerts import Alert, Exposure
from schemas.registry import Role
from services.core.config import Settings
from services.core.kafka_connection import kafka_options
from tests.conftest import _drop_stores
from tests.support.processes import ROOT, ServiceProcess, running_http_service, wait_for
from tests.support.stack import grant, isolated_settings

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
ARTIFACTS = ROOT / "artifacts" / "dashboard"
MINUTE = 60
HOUR = 3600
PIPELINE_S = 120  # case reported → its alerts on the page
CASE = "dash-0001"
PEOPLE = {"f0": "0900000001", "f1a": "0900000002", "f1b": "0900000003", "f2": "0900000004",
          "k1": "0900000005", "k2": "0900000006", "k3": "0900000007"}
# Reported once the first case is withdrawn: two cases at a clinic (a clinic's cluster rule
# needs two), and an exposure event at the shop.
CLUSTER_CASES = {"dash-k1": "k1", "dash-k2": "k2"}
CROWD = 60  # more at the clinic: its graph, over BUSY_NODES (60) people, is not drawn
EVENT = "dash-event-1"


@dataclass
class Pipeline:
    settings: Settings
    ingest: str
    alerts: str
    tokens: dict[Role, str]
    workers: list[ServiceProcess] = field(default_factory=list)

    def http(self, base: str, token: str) -> httpx.Client:
        return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"},
                            timeout=30)

    def check_workers(self) -> None:
        for worker in self.workers:
            assert worker.alive(), f"{worker.module} died:\n{worker.log_tail()}"

    def log_errors(self) -> str:
        """The services' logged errors, to tell a slow pipeline from a broken one."""
        lines = []
        for log in sorted(self.settings.state_dir.glob("*.log")):
            errors = [line for line in log.read_text(errors="replace").splitlines()
                      if "ERROR" in line or "Traceback" in line]
            lines += [f"--- {log.name}", *errors[-10:]] if errors else []
        return "\n".join(lines) or "(no errors logged)"


@pytest.fixture
def pipeline(stack: Settings, tmp_path: Path) -> Iterator[Pipeline]:
    # Every count shown: this case alerts three people, fewer than the default minimum group.
    settings = isolated_settings(stack, tmp_path).model_copy(
        update={"min_group": 1, "cluster_check_s": 0.5})
    tokens = {role: grant(settings, role)
              for role in (Role.ADMIN, Role.AUTHORITY, Role.DASHBOARD, Role.NOTIFIER)}
    ingest = f"http://{settings.ingest_host}:{settings.ingest_port}"
    alerts = f"http://{settings.alerts_host}:{settings.alerts_port}"
    with ExitStack() as running:
        running.callback(_drop_stores, settings)  # last, once everything has stopped
        running.enter_context(running_http_service("services.ingest", settings, ingest,
                                                   tmp_path / "ingest.log"))
        running.enter_context(running_http_service("services.alerts", settings, alerts,
                                                   tmp_path / "alerts-api.log"))
        p = Pipeline(settings, ingest, alerts, tokens)
        for module, log in (("services.tracer", "tracer.log"),
                            ("services.alerts.worker", "alerts.log")):
            worker = ServiceProcess(module, settings, tmp_path / log)
            running.callback(worker.stop)
            p.workers.append(worker)
        yield p


@pytest.fixture
def browser() -> Iterator[Browser]:
    # `make test` installs it; a missing browser is a broken setup, never a skipped test.
    assert CHROMIUM.exists(), f"{CHROMIUM} is not installed (Debian package `chromium`)"
    with sync_playwright() as playwright:
        # launch() gives every run a fresh temporary profile (--user-data-dir) of its own.
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def push_exposures(p: Pipeline, now: int) -> None:
    """F0 and two F1 at a café; one F1 later meets the future F2 at a shop; the two future
    cases of a cluster and one more visitor at a clinic."""
    # (who, came, left) in minutes before now.
    visits = {
        "cafe-dash": [("f0", 300, 180), ("f1a", 270, 210), ("f1b", 240, 180)],
        "shop-dash": [("f1a", 180, 120), ("f2", 170, 130)],
        "clinic-dash": [("k1", 200, 140), ("k2", 190, 150), ("k3", 195, 160),
                        *((f"crowd{n}", 198, 150) for n in range(CROWD))],
    }
    people = {**PEOPLE, **{f"crowd{n}": f"09100{n:05d}" for n in range(CROWD)}}
    with p.http(p.ingest, p.tokens[Role.ADMIN]) as admin:
        keys = {}
        for venue_id, name, kind in (("cafe-dash", "Cà phê Dashboard", "restaurant"),
                                     ("shop-dash", "Tạp hóa Dashboard", "shop"),
                                     ("clinic-dash", "Phòng khám Dashboard", "clinic")):
            answer = admin.post("/v1/venues", json={"venue_id": venue_id, "name": name,
                                                    "kind": kind})
            assert answer.status_code == 201, answer.text
            keys[venue_id] = answer.json()["api_key"]
    for venue_id, stays in visits.items():
        body = [
            {"event_id": f"{venue_id}-{who}-{direction}", "venue_id": venue_id,
             "person_id": people[who], "direction": direction, "scanned_at": iso(now - ago)}
            for who, came, left in stays
            for direction, ago in (("in", came * MINUTE), ("out", left * MINUTE))
        ]
        with p.http(p.ingest, keys[venue_id]) as venue:
            answer = venue.post("/v1/scans", json=body)
        assert answer.status_code == 202, answer.text
        assert answer.json()["refused"] == []


def sign_in(page: Page, url: str, token: str, role: Role) -> None:
    page.goto(url)
    expect(page.locator("#sign-in")).to_be_visible()
    page.fill("#token", token)
    page.click("#token-form button[type=submit]")
    # "Signed in as authority: …", or in Vietnamese "Đăng nhập (authority): …"
    expect(page.locator("#access-note")).to_contain_text(
        re.compile(rf"(Signed in as |Đăng nhập \(){role.value}"), timeout=30_000)
    if role == Role.NOTIFIER:
        expect(page.locator("#stream-status")).to_have_text(re.compile(r"^(live|trực tiếp)$"),
                                                            timeout=30_000)
    else:
        expect(page.locator("#tile-scans")).not_to_have_text("–", timeout=30_000)


class PageWatch:
    """Console errors, uncaught exceptions and any request leaving the service's origin."""

    def __init__(self, page: Page, origin: str) -> None:
        self.errors: list[str] = []
        self.foreign: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: r.url.startswith((origin, "data:"))
                or self.foreign.append(r.url))

    def check(self) -> None:
        assert self.errors == [], self.errors
        assert self.foreign == [], self.foreign


def test_a_reported_case_appears_live_with_its_chain_and_venue_graph(
    pipeline: Pipeline, browser: Browser
) -> None:
    p = pipeline
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    now = int(time.time())
    push_exposures(p, now)

    def desktop_page(role: Role) -> tuple[Page, PageWatch]:
        context = browser.new_context(viewport={"width": 1440, "height": 1000},
                                      timezone_id="Asia/Ho_Chi_Minh", locale="vi-VN")
        page = context.new_page()
        watch = PageWatch(page, p.alerts)
        sign_in(page, p.alerts, p.tokens[role], role)
        page.evaluate("window.__sameDocument = true")
        return page, watch

    # The notifier's live feed, the authority's cases, each on a page of its own.
    live, live_watch = desktop_page(Role.NOTIFIER)
    page, watch = desktop_page(Role.AUTHORITY)
    # A browser asking for Vietnamese gets it; times are in the deployment's zone
    # (TRUYVET_TIMEZONE, default Asia/Ho_Chi_Minh), as /v1/whoami tells the page.
    expect(page.locator("#zone")).to_have_text("giờ theo Asia/Ho_Chi_Minh")
    expect(page.locator("#cases-title")).to_have_text("Ca bệnh đang mở")
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page.locator("#feed-panel")).to_be_hidden()
    expect(live.locator("#chain-panel")).to_be_hidden()

    with p.http(p.ingest, p.tokens[Role.AUTHORITY]) as authority:
        answer = authority.post("/v1/cases", json={
            "case_id": CASE, "person_id": PEOPLE["f0"], "onset_at": iso(now - 24 * HOUR),
            "reported_at": iso(now - 10)})
    assert answer.status_code == 202, answer.text
    reported = time.monotonic()

    # Two F1 (the café) and one F2 (the shop), pushed by the stream into the notifier's page.
    feed = live.locator("#feed .feed-item")
    try:
        expect(feed).to_have_count(3, timeout=PIPELINE_S * 1000)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{p.log_errors()}") from exc
    alert_latency = time.monotonic() - reported
    p.check_workers()
    expect(live.locator('#feed .feed-item[data-degree="1"]')).to_have_count(2)
    expect(live.locator('#feed .feed-item[data-degree="2"]')).to_have_count(1)
    assert live.evaluate("window.__sameDocument") is True, "the page was reloaded"
    people = live.locator("#feed .person").all_inner_texts()
    assert all("…" in shown and len(shown) <= 12 for shown in people), people
    live.screenshot(path=ARTIFACTS / "notifier-live-feed.png", full_page=True)

    # The authority's open case with its counts, once the figures refresh.
    row = page.locator(f'#cases tbody tr[data-case-id="{CASE}"]')
    expect(row.locator("td.f1")).to_have_text("2", timeout=60_000)
    expect(row.locator("td.f2")).to_have_text("1")
    expect(page.locator("#tile-cases")).to_have_text("1")
    # The case list searches by case id (any case, any part of the id).
    page.fill("#cases-search", "no-such-case")
    expect(page.locator("#cases tbody tr")).to_have_count(0)
    page.fill("#cases-search", "DASH-00")
    expect(row).to_be_visible()

    # The F2 reached by phone (the follow-up API), before the authority opens the case.
    with p.http(p.alerts, p.tokens[Role.AUTHORITY]) as authority:
        listed = authority.get(f"/v1/cases/{CASE}/contacts.json").json()["contacts"]
        (f2_alert,) = [c["alert_id"] for c in listed if c["degree"] == 2]
        answer = authority.patch(f"/v1/cases/{CASE}/alerts/{f2_alert}",
                                 json={"state": "reached", "note": "gọi điện"})
        assert answer.status_code == 200, answer.text

    # The chain of the case: F0 → two F1 → one F2 under the F1 who met them.
    row.click()
    chain = page.locator("#chain svg .node")
    expect(chain).to_have_count(4, timeout=30_000)
    expect(page.locator('#chain svg .node[data-degree="0"]')).to_have_count(1)
    expect(page.locator('#chain svg .node[data-degree="2"]')).to_have_count(1)
    expect(page.locator("#chain-summary")).to_contain_text("2 F1, 1 F2")
    summary = page.locator("#chain-summary").inner_text()
    assert summary.count("reported") + summary.count("báo cáo") == 1, summary
    # Its follow-up view: the three contacts, each with its state, the F2 reached.
    follow = page.locator("#follow-up tbody tr")
    expect(follow).to_have_count(3, timeout=30_000)
    expect(page.locator('#follow-up tbody tr[data-degree="1"] td.state')).to_have_text(
        ["chưa liên lạc được", "chưa liên lạc được"])
    expect(page.locator(f'#follow-up tbody tr[data-alert-id="{f2_alert}"] td.state')).to_have_text(
        "đã liên lạc")
    expect(page.locator("#follow-up-summary")).to_contain_text("1 đã liên lạc")
    page.locator("#follow-up-panel").screenshot(path=ARTIFACTS / "desktop-follow-up.png")
    # No column of the open cases is cut off or pushed out of its panel.
    wrap = page.locator("#cases-panel .table-wrap")
    assert wrap.evaluate("w => w.scrollWidth - w.clientWidth") <= 0

    # The café's contact graph of the exposure's day, the case's people ringed by degree.
    page.fill("#graph-venue", "cafe-dash")
    page.fill("#graph-day", datetime.fromtimestamp(now - 300 * MINUTE, UTC).date().isoformat())
    page.click("#graph-form button[type=submit]")
    nodes = page.locator("#graph svg .gnode")
    expect(nodes.first).to_be_visible(timeout=30_000)
    assert nodes.count() >= 2
    assert page.locator("#graph svg .gnode.in-chain").count() >= 2
    expect(page.locator("#graph-summary")).to_contain_text("cafe-dash")
    nodes.first.click()
    expect(page.locator("#graph-detail")).to_contain_text("tiếp xúc")  # Vietnamese: vi-VN
    page.locator("#chain-panel").screenshot(path=ARTIFACTS / "desktop-chain.png")
    page.locator("#graph-panel").screenshot(path=ARTIFACTS / "desktop-graph.png")
    page.screenshot(path=ARTIFACTS / "desktop-case.png", full_page=True)

    # A dashboard token at phone width: counts only, no case, no person, no feed.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                has_touch=True, device_scale_factor=2,
                                timezone_id="Asia/Ho_Chi_Minh", locale="vi-VN")
    small = phone.new_page()
    small_watch = PageWatch(small, p.alerts)
    sign_in(small, p.alerts, p.tokens[Role.DASHBOARD], Role.DASHBOARD)
    expect(small.locator("#tile-f1")).to_have_text("2", timeout=60_000)
    for hidden in ("#cases-panel", "#chain-panel", "#follow-up-panel", "#graph-panel",
                   "#feed-panel"):
        expect(small.locator(hidden)).to_be_hidden()
    assert re.search(r"[0-9a-f]{6}…", small.locator("body").inner_text()) is None
    overflow = small.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a phone screen"
    # The follow-up funnel, counts only: the case's three contacts, one reached.
    expect(small.locator("#funnel-panel")).to_be_visible(timeout=30_000)
    expect(small.locator("#funnel li")).to_have_count(7)
    expect(small.locator('#funnel li[data-state="new"] .funnel-count')).to_have_text("2")
    expect(small.locator('#funnel li[data-state="reached"] .funnel-count')).to_have_text("1")
    expect(small.locator('#funnel li[data-state="reached"]')).to_contain_text("đã liên lạc")
    small.screenshot(path=ARTIFACTS / "phone-dashboard.png", full_page=True)
    small.set_viewport_size({"width": 360, "height": 780})
    overflow = small.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page is {overflow}px wider than a 360 px screen"
    small.screenshot(path=ARTIFACTS / "phone-360-dashboard.png", full_page=True)

    # An English browser in London on a wide screen: English, and still Hà Nội's times; then
    # switched to Vietnamese by the button, which the next visit remembers.
    wide = browser.new_context(viewport={"width": 1920, "height": 1080},
                               timezone_id="Europe/London", locale="en-GB")
    large = wide.new_page()
    large_watch = PageWatch(large, p.alerts)
    sign_in(large, p.alerts, p.tokens[Role.AUTHORITY], Role.AUTHORITY)
    expect(large.locator("#zone")).to_have_text("times in Asia/Ho_Chi_Minh")
    expect(large.locator("#cases-title")).to_have_text("Open cases")
    reported_shown = large.locator(f'#cases tbody tr[data-case-id="{CASE}"] time')
    expect(reported_shown).to_have_count(1, timeout=60_000)
    expected_clock = datetime.fromtimestamp(now - 10, ZoneInfo("Asia/Ho_Chi_Minh"))
    # Hà Nội's clock; with its date in front once Hà Nội's day has turned since.
    clock = re.escape(expected_clock.strftime("%H:%M"))
    expect(reported_shown).to_have_text(re.compile(rf"^(.+, )?{clock}$"))
    assert large.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    large.screenshot(path=ARTIFACTS / "wide-english.png", full_page=True)
    large.click("#language")
    expect(large.locator("#cases-title")).to_have_text("Ca bệnh đang mở")
    expect(large.locator("#tile-scans + .tile-label")).to_have_text("lượt quét, 24 giờ qua")
    expect(large.locator("#language")).to_have_text("English")
    large.screenshot(path=ARTIFACTS / "wide-vietnamese.png", full_page=True)
    large.reload()
    expect(large.locator("#cases-title")).to_have_text("Ca bệnh đang mở")

    # Withdrawn: the feed marks the three alerts retracted, still without a reload.
    with p.http(p.ingest, p.tokens[Role.AUTHORITY]) as authority:
        assert authority.delete(f"/v1/cases/{CASE}").status_code == 202
    expect(live.locator("#feed .feed-item.retracted")).to_have_count(3,
                                                                     timeout=PIPELINE_S * 1000)
    expect(live.locator("#feed .retracted-tag").first).to_have_text("đã thu hồi")
    assert live.evaluate("window.__sameDocument") is True
    # The authority's figures and open chain follow: no open case, the chain withdrawn.
    expect(page.locator("#cases-empty")).to_be_visible(timeout=60_000)
    expect(page.locator("#tile-cases")).to_have_text("0")
    expect(page.locator("#chain-summary")).to_contain_text("was withdrawn", timeout=60_000)
    expect(page.locator("#chain svg .node")).to_have_count(0)
    expect(small.locator("#tile-cases")).to_have_text("0", timeout=60_000)
    page.screenshot(path=ARTIFACTS / "desktop-retracted.png", full_page=True)
    live.screenshot(path=ARTIFACTS / "notifier-retracted.png", full_page=True)

    # A cluster (two cases at the clinic) and an exposure event (the shop), counts only.
    show_a_cluster_and_an_exposure_event(p, now)
    small.reload()
    clusters = small.locator('#clusters tbody tr')
    expect(clusters).to_have_count(1, timeout=30_000)
    expect(clusters.locator(".venue-name")).to_contain_text("Phòng khám Dashboard")
    expect(clusters.locator("td.cases-n")).to_have_text("2")
    expect(clusters.locator("td.visitors-n")).to_have_text(str(3 + CROWD))
    event = small.locator(f'#events tbody tr[data-event-id="{EVENT}"]')
    expect(event.locator(".venue-name")).to_contain_text("Tạp hóa Dashboard")
    expect(event.locator("td.action")).to_have_text("đi xét nghiệm")
    expect(event.locator("td.alerts-n")).to_have_text("2")
    assert small.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    small.locator("#venue-alerts-panel").screenshot(path=ARTIFACTS / "phone-360-clusters.png")
    large.reload()
    expect(large.locator("#clusters tbody tr")).to_have_count(1, timeout=30_000)
    expect(large.locator("#events th").nth(2)).to_have_text("Khuyến cáo")
    assert large.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    large.screenshot(path=ARTIFACTS / "wide-clusters.png", full_page=True)

    # The clinic that day is too busy to draw: its occupancy per 15 minutes and who was with
    # the case's people, longest first, instead of a graph.
    page.fill("#chain-case", "dash-k1")
    page.click("#chain-form button[type=submit]")
    expect(page.locator("#chain svg .node")).to_have_count(3 + CROWD, timeout=60_000)
    page.fill("#graph-venue", "clinic-dash")
    page.fill("#graph-day", datetime.fromtimestamp(now - 200 * MINUTE, UTC).date().isoformat())
    page.click("#graph-form button[type=submit]")
    expect(page.locator("#graph .occupancy .bar")).to_have_count(96, timeout=30_000)
    expect(page.locator("#graph h3").first).to_have_text(
        f"Số người có mặt mỗi 15 phút · cao nhất {3 + CROWD}")
    ranked = page.locator("#graph table.ranked tbody tr")
    expect(ranked).to_have_count(30)  # the 62 others with the F0, the longest 30 shown
    assert all(w.startswith("F0 ") for w in ranked.locator("td:nth-child(3)").all_inner_texts())
    expect(ranked.first.locator("td").last).to_have_text("48 min")  # the clinic's crowd
    expect(page.locator("#graph svg .gnode")).to_have_count(0)
    page.locator("#graph-panel").screenshot(path=ARTIFACTS / "desktop-busy-venue.png")
    page.set_viewport_size({"width": 360, "height": 780})
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    page.screenshot(path=ARTIFACTS / "phone-360-authority.png", full_page=True)

    # The withdrawn case's chain is a 410, which Chromium logs; nothing else may be.
    watch.errors = [e for e in watch.errors if "410 (Gone)" not in e]
    for checked in (watch, live_watch, small_watch, large_watch):
        checked.check()
    phone.close()
    wide.close()
    print(f"alerts on the page {alert_latency:.1f}s after the case was reported; "
          f"whole scenario {time.monotonic() - started:.1f}s")


def show_a_cluster_and_an_exposure_event(p: Pipeline, now: int) -> None:
    """Reports the clinic's two cases and declares an event at the shop over the visits of
    f1a and f2, then waits until the dashboard's read lists both, counted."""
    with p.http(p.ingest, p.tokens[Role.AUTHORITY]) as authority:
        for case_id, who in CLUSTER_CASES.items():
            answer = authority.post("/v1/cases", json={
                "case_id": case_id, "person_id": PEOPLE[who], "onset_at": iso(now - 24 * HOUR),
                "reported_at": iso(now - 5)})
            assert answer.status_code == 202, answer.text
        answer = authority.post("/v1/exposure-events", json={
            "event_id": EVENT, "venue_id": "shop-dash", "start": iso(now - 175 * MINUTE),
            "end": iso(now - 125 * MINUTE), "message": "Đi xét nghiệm", "action": "test"})
        assert answer.status_code == 202, answer.text

    def both_listed() -> bool:
        with p.http(p.alerts, p.tokens[Role.DASHBOARD]) as dashboard:
            answer = dashboard.get("/v1/venue-alerts")
        assert answer.status_code == 200, answer.text
        found = answer.json()
        return ([c["venue_id"] for c in found["clusters"]] == ["clinic-dash"]
                and [(e["event_id"], e["alerts"]) for e in found["exposure_events"]]
                == [(EVENT, 2)])

    try:
        wait_for(both_listed, PIPELINE_S, "the clinic's cluster and the shop's event",
                 every_s=0.5)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{p.log_errors()}") from exc


# --- the feed across a restart of the API ---------------------------------------------------


def an_alert(n: int) -> Alert:
    at = datetime.now(UTC).replace(microsecond=0)
    pseudonym = hashlib.sha256(f"person-{n}".encode()).hexdigest()
    source = hashlib.sha256(b"f0").hexdigest()
    return Alert(
        alert_id=f"alert-resume-{n}", case_id="resume-1", person_id=pseudonym, degree=1,
        exposed_at=at, venue_ids=["cafe-resume"], created_at=at,
        exposures=[Exposure(contact_id=f"k{n}", venue_id="cafe-resume", other_person_id=source,
                            start=at, end=at)],
    )


def publish(settings: Settings, alert: Alert) -> None:
    producer = KafkaProducer(**kafka_options(settings), acks="all")
    try:
        producer.send(settings.topic("alerts"), key=alert.case_id.encode(),
                      value=alert.model_dump_json().encode()).get(timeout=30)
    finally:
        producer.close()


def started_api(settings: Settings, url: str, log: Path) -> ServiceProcess:
    api = ServiceProcess("services.alerts", settings, log)
    wait_for(lambda: api.alive() and httpx.get(f"{url}/healthz", timeout=2).status_code == 200,
             60, "the alerts API to answer /healthz")
    return api


def test_the_feed_resumes_after_the_api_restarts_with_nothing_lost_or_repeated(
    stack: Settings, tmp_path: Path, browser: Browser
) -> None:
    settings = isolated_settings(stack, tmp_path)
    token = grant(settings, Role.NOTIFIER)
    url = f"http://{settings.alerts_host}:{settings.alerts_port}"
    api = started_api(settings, url, tmp_path / "alerts-api.log")
    try:
        page = browser.new_page()
        watch = PageWatch(page, url)
        sign_in(page, url, token, Role.NOTIFIER)
        publish(settings, an_alert(1))
        expect(page.locator("#feed .feed-item")).to_have_count(1, timeout=30_000)

        api.stop()  # ends open streams at once (SIGTERM), as a deploy would
        expect(page.locator("#stream-status")).to_have_text("reconnecting…", timeout=30_000)
        publish(settings, an_alert(2))  # while no API is up
        api = started_api(settings, url, tmp_path / "alerts-api.log")

        # Resumed from its Last-Event-ID: the missed alert arrives, the first is not resent.
        expect(page.locator("#feed .feed-item")).to_have_count(2, timeout=60_000)
        expect(page.locator("#stream-status")).to_have_text("live")
        expect(page.locator("#feed-count")).to_have_text("2 received since opened")
        expect(page.locator("#feed .feed-item").first).to_have_attribute(
            "data-alert-id", "alert-resume-2")
        # Chromium logs the refused connections of the reconnect attempts; nothing else.
        watch.errors = [e for e in watch.errors if "ERR_CONNECTION_REFUSED" not in e]
        watch.check()
    finally:
        api.stop()
        _drop_stores(settings)
