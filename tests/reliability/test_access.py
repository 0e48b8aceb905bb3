"""Abuse and access: every role against every endpoint, forged and replayed QR codes, a venue
pushing for another, token brute force, oversized bodies — and no raw ``person_id`` anywhere.

One deployment (both APIs and both workers) serves the whole module. Each request of the role
table comes from a loopback address of its own: failed authentications are rate-limited per
address, and the table's 401s must not turn into 429s for the rows after them.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from schemas.directory import DirectoryEntry
from schemas.registry import Role
from services.core.clickhouse import clickhouse_client
from services.core.config import Settings
from services.core.directory import AuthorityPrivateKey, CannotOpenError
from services.core.http.auth import token_id
from services.core.secrets import QrSigner, sha256_hex
from tests.reliability.access_table import ACCESS, ROLES, Endpoint, markdown_table
from tests.reliability.deployment import Deployment, running_deployment
from tests.reliability.stores import (
    committed_offsets,
    contacts_read,
    count_rows,
    deployment_topics,
    end_offsets,
    read_records,
    stored_event_ids,
    table_dumps,
)
from tests.reliability.waits import wait_while_running
from truyvet.audit_command import case_acts_since, reads_since
from truyvet.directory_commands import open_contacts, read_keys

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
_sources = (f"127.0.{i // 250}.{i % 250 + 2}" for i in itertools.count(250))


def fresh_source() -> str:
    """A loopback address no other request of this module came from."""
    return next(_sources)


def raw_person() -> str:
    """A raw phone-number-like id unique to this run (kept to check it is stored nowhere)."""
    raw = "0977" + str(secrets.randbelow(10**6)).zfill(6)
    RAW_IDS.append(raw)
    return raw


RAW_IDS: list[str] = []
AUTHORITY_KEY = AuthorityPrivateKey.generate()
"""The health authority's key: its public half configured on the deployment, the private half
here only, as the authority keeps it offline."""


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def scan(venue_id: str, person: str, *, minutes_ago: int = 30, direction: str = "in",
         event_id: str | None = None, **extra: str) -> dict[str, str]:
    return {"event_id": event_id or f"acc-{uuid.uuid4().hex[:12]}", "venue_id": venue_id,
            "person_id": person, "direction": direction,
            "scanned_at": (now() - timedelta(minutes=minutes_ago)).isoformat(), **extra}


@dataclass
class World:
    deployment: Deployment
    venue_a: dict[str, str]
    venue_b: dict[str, str]
    case_id: str
    withdrawable: str  # reported too: the table's DELETE withdraws it, not the module's case
    event_id: str = ""  # a declared exposure event at venue A
    event_gone: str = ""  # declared too: the table's DELETE withdraws it
    alert_id: str = ""  # the case's F1 alert, once the worker made it
    f0_raw: str = ""  # the raw ids of the case's F0 and its one F1
    f1_raw: str = ""

    def secret(self, role: str) -> str | None:
        tokens = self.deployment.tokens
        return {
            "none": None,
            "bogus": "tvt_" + secrets.token_urlsafe(32),
            "venue": self.venue_a["api_key"],
            "other-venue": self.venue_b["api_key"],
            "dashboard": tokens[Role.DASHBOARD],
            "authority": tokens[Role.AUTHORITY],
            "notifier": tokens[Role.NOTIFIER],
            "admin": tokens[Role.ADMIN],
        }[role]


@pytest.fixture(scope="module")
def world(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    state_dir = tmp_path_factory.mktemp("access")
    with running_deployment(stack, state_dir, workers=True,
                            authority_public_keys=AUTHORITY_KEY.public.configured()) as deployment:
        suffix = uuid.uuid4().hex[:6]
        venue_a = deployment.add_venue(f"acc-a-{suffix}")
        venue_b = deployment.add_venue(f"acc-b-{suffix}")
        world = World(deployment, venue_a, venue_b, f"acc-case-{suffix}", f"acc-gone-{suffix}")
        first, second = raw_person(), raw_person()
        world.f0_raw, world.f1_raw = first, second
        with deployment.http("ingest", venue_a["api_key"]) as gate:
            answer = gate.post("/v1/scans", json=[
                scan(venue_a["venue_id"], first, minutes_ago=90),
                scan(venue_a["venue_id"], second, minutes_ago=80),
                scan(venue_a["venue_id"], first, minutes_ago=20, direction="out"),
            ])
            assert answer.status_code == 202, answer.text
        with deployment.http("ingest", deployment.tokens[Role.AUTHORITY]) as authority:
            answer = authority.post("/v1/cases", json={
                "case_id": world.case_id, "person_id": first,
                "onset_at": (now() - timedelta(days=1)).isoformat(),
                "reported_at": now().isoformat()})
            assert answer.status_code == 202, answer.text
            answer = authority.post("/v1/cases", json={
                "case_id": world.withdrawable, "person_id": raw_person(),
                "onset_at": (now() - timedelta(days=1)).isoformat(),
                "reported_at": now().isoformat()})
            assert answer.status_code == 202, answer.text
            world.event_id, world.event_gone = f"acc-ev-{suffix}", f"acc-ev-gone-{suffix}"
            for event_id in (world.event_id, world.event_gone):
                answer = authority.post("/v1/exposure-events", json=event_body(
                    event_id, venue_a["venue_id"]))
                assert answer.status_code == 202, answer.text

        def alerted() -> bool:
            with deployment.http("alerts", deployment.tokens[Role.AUTHORITY]) as authority:
                answer = authority.get(f"/v1/cases/{world.case_id}/alerts")
                event = authority.get(f"/v1/exposure-events/{world.event_id}/alerts")
            if answer.status_code == 200 and len(answer.json()["alerts"]) == 1:
                world.alert_id = answer.json()["alerts"][0]["alert_id"]
            return bool(world.alert_id) and event.status_code == 200

        wait_while_running(alerted, 120, "the case's F1 alert", deployment.processes)
        yield world


def event_body(event_id: str, venue_id: str) -> dict[str, object]:
    return {"event_id": event_id, "venue_id": venue_id,
            "start": (now() - timedelta(hours=2)).isoformat(), "end": now().isoformat()}


def request_for(world: World, endpoint: Endpoint, role: str) -> tuple[str, dict[str, object]]:
    """The path and request arguments of one call: a body every role could have sent."""
    venue_id = world.venue_a["venue_id"]
    path = endpoint.path.format(venue=venue_id, case=world.case_id, alert=world.alert_id,
                                event=world.event_id)
    if endpoint.method == "DELETE":  # a case of its own: the module's case stays reported
        path = path.replace(world.case_id, world.withdrawable)
        path = path.replace(world.event_id, world.event_gone)
    bodies: dict[str, object] = {
        "/v1/venues": {"name": "Access test", "kind": "shop"},
        "/v1/qr/verify": {"payload": world.venue_a["qr_payload"]},
        "/v1/scans": [scan(venue_id, raw_person())],
        "/v1/cases": {"case_id": f"acc-{uuid.uuid4().hex[:8]}", "person_id": raw_person(),
                      "onset_at": (now() - timedelta(days=2)).isoformat(),
                      "reported_at": now().isoformat()},
        "/v1/tokens": {"role": "dashboard", "label": "access test"},
        "/v1/people/status": {"person_id": raw_person()},
        "/v1/pseudonyms/status": {"pseudonym": "0" * 64},
        "/v1/exposure-events": event_body(f"acc-ev-{uuid.uuid4().hex[:8]}", venue_id),
    }
    args: dict[str, object] = {}
    if endpoint.path in bodies:
        args["json"] = bodies[endpoint.path]
    if endpoint.method == "PATCH":
        args["json"] = {"state": "reached", "note": "access table"}
    if "graph" in endpoint.path:
        args["params"] = {"date": (now() - timedelta(minutes=90)).date().isoformat(),
                          "case": world.case_id}
    return path, args


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint", ACCESS, ids=lambda e: e.label)
def test_each_role_gets_exactly_the_documented_status(
    world: World, endpoint: Endpoint, role: str
) -> None:
    path, args = request_for(world, endpoint, role)
    with world.deployment.http(endpoint.service, world.secret(role), source=fresh_source()) as http:
        if endpoint.path.endswith("/stream"):
            with http.stream(endpoint.method, path) as answer:
                status = answer.status_code
                body = answer.read() if status != 200 else b""
        else:
            answer = http.request(endpoint.method, path, **args)  # type: ignore[arg-type]
            status, body = answer.status_code, answer.content
    assert status == endpoint.status_for(role), body[:300]
    if status >= 400:
        problem = httpx.Response(status, content=body).json()
        assert problem["error"] and problem["detail"]


def test_the_table_covers_every_operation_either_service_documents(world: World) -> None:
    for service in ("ingest", "alerts"):
        with world.deployment.http(service) as http:
            spec = http.get("/openapi.json").json()
        documented = {(method.upper(), path.replace("{venue_id}", "{venue}")
                       .replace("{case_id}", "{case}").replace("{alert_id}", "{alert}")
                       .replace("{event_id}", "{event}"))
                      for path, operations in spec["paths"].items() for method in operations}
        tabled = {(e.method, e.path) for e in ACCESS if e.service == service}
        assert documented <= tabled, f"{service}: add these to access_table.ACCESS"


def test_the_documented_table_is_the_tested_one() -> None:
    doc = (REPO_ROOT / "docs" / "reliability.md").read_text()
    assert markdown_table() in doc, "docs/reliability.md shows another role table; paste " \
        "tests.reliability.access_table.markdown_table() there"


def test_forged_and_replayed_qr_codes_are_refused(world: World) -> None:
    a, b = world.venue_a, world.venue_b
    genuine = a["qr_payload"]
    signature = genuine.rsplit(".", 1)[1]
    forged = {
        "tampered signature": genuine[:-2] + ("AA" if not genuine.endswith("AA") else "BB"),
        "other venue, same signature": genuine.replace(a["venue_id"], b["venue_id"]),
        "signed with another deployment's key": QrSigner(SecretStr("x" * 40)).payload(
            a["venue_id"]),
        "no signature": genuine.rsplit(".", 1)[0],
        "truncated signature": genuine[: -len(signature) // 2],
    }
    with world.deployment.http("ingest") as public:
        for name, payload in forged.items():
            answer = public.post("/v1/qr/verify", json={"payload": payload})
            assert answer.status_code == 422, name
        assert public.post("/v1/qr/verify", json={"payload": genuine}).json()["venue_id"] \
            == a["venue_id"]

    person = raw_person()
    with world.deployment.http("ingest", a["api_key"]) as gate_a:
        answer = gate_a.post("/v1/scans", json=[
            scan(a["venue_id"], person, qr=genuine),
            *(scan(a["venue_id"], person, qr=payload) for payload in forged.values()),
        ])
    assert answer.status_code == 202, answer.text
    receipt = answer.json()
    assert receipt["accepted"] == 1
    assert [r["index"] for r in receipt["refused"]] == list(range(1, len(forged) + 1))
    # Venue B's gate replaying the code printed on venue A's door.
    with world.deployment.http("ingest", b["api_key"]) as gate_b:
        answer = gate_b.post("/v1/scans", json=[scan(b["venue_id"], person, qr=genuine)])
    assert answer.status_code == 422 and "qr" in answer.json()["refused"][0]["reason"]


def test_a_replayed_request_counts_once(world: World) -> None:
    a = world.venue_a
    body = [scan(a["venue_id"], raw_person(), minutes_ago=40),
            scan(a["venue_id"], raw_person(), minutes_ago=35)]
    with world.deployment.http("ingest", a["api_key"]) as gate:
        for attempt in range(3):
            answer = gate.post("/v1/scans", json=body)
            assert answer.status_code == 202, answer.text
            # New the first time; then acknowledged again but counted apart as replays.
            assert (answer.json()["accepted"], answer.json()["replayed"]) == (
                (2, 0) if attempt == 0 else (0, 2))
    settings = world.deployment.settings
    wanted = {s["event_id"] for s in body}
    wait_while_running(lambda: wanted <= stored_event_ids(settings), 90, "the replayed scans",
                       world.deployment.processes)
    ids = ", ".join(f"'{e}'" for e in sorted(wanted))
    assert count_rows(settings, f"SELECT count() FROM scans FINAL WHERE event_id IN ({ids})") == 2


def test_a_venue_cannot_push_for_another_and_nothing_of_the_request_is_kept(world: World) -> None:
    a, b = world.venue_a, world.venue_b
    mine = scan(b["venue_id"], raw_person())
    theirs = scan(a["venue_id"], raw_person())
    with world.deployment.http("ingest", b["api_key"]) as gate_b:
        answer = gate_b.post("/v1/scans", json=[mine, theirs])
        assert answer.status_code == 403 and a["venue_id"] in answer.json()["detail"]
        answer = gate_b.post("/v1/scans", json=[scan(b["venue_id"], raw_person())])
        assert answer.status_code == 202  # the key still works for its own venue
    scans_topic = world.deployment.settings.topic("scans")
    records = read_records(world.deployment.settings, scans_topic)
    assert not any(mine["event_id"].encode() in (v or b"") for _, v, _, _ in records)
    assert not any(theirs["event_id"].encode() in (v or b"") for _, v, _, _ in records)


def test_token_brute_force_is_refused_with_429_after_the_burst(world: World) -> None:
    """Attackers guessing tokens in parallel, one address per service; honest clients elsewhere.
    Both services at once: each failed guess costs a registry refresh (~0.5 s)."""
    targets = {"ingest": ("POST", "/v1/cases"),
               "alerts": ("GET", f"/v1/cases/{world.case_id}/alerts")}
    attackers = {service: fresh_source() for service in targets}

    def guess(service: str) -> tuple[str, httpx.Response]:
        method, path = targets[service]
        with world.deployment.http(service, "tvt_" + secrets.token_urlsafe(32),
                                   source=attackers[service]) as http:
            return service, http.request(method, path, json={})

    began = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(guess, [s for _ in range(60) for s in targets]))
    attack_s = time.monotonic() - began
    valid = world.secret("authority")
    for service, (method, path) in targets.items():
        mine = [answer for s, answer in answers if s == service]
        statuses = Counter(answer.status_code for answer in mine)
        assert set(statuses) == {401, 429}, (service, statuses)
        # The burst (20), then one a second, plus the guesses already in flight.
        assert 20 <= statuses[401] <= 20 + attack_s + 16, (service, statuses, attack_s)
        refused = next(answer for answer in mine if answer.status_code == 429)
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["error"] == "too_many_requests"
        with world.deployment.http(service, valid, source=fresh_source()) as http:
            answer = http.request(method, path, json={})
        assert answer.status_code == (422 if service == "ingest" else 200), answer.text


BIG = 20 * 2**20


@pytest.mark.parametrize(("role", "path"), [
    ("venue", "/v1/scans"),
    ("authority", "/v1/cases"),
    ("admin", "/v1/venues"),
    ("admin", "/v1/tokens"),
    ("none", "/v1/qr/verify"),
    ("none", "/v1/cases"),
])
def test_oversized_bodies_are_refused_with_413(world: World, role: str, path: str) -> None:
    body = b'{"pad": "' + b"x" * BIG + b'"}'
    with world.deployment.http("ingest", world.secret(role), source=fresh_source()) as http:
        answer = http.post(path, content=body, headers={"Content-Type": "application/json"})
        assert answer.status_code == 413, answer.text[:300]
        assert answer.json()["error"] == "payload_too_large"

        def chunks() -> Iterator[bytes]:  # no Content-Length: the size shows only while reading
            for _ in range(BIG // 2**20 + 1):
                yield b"x" * 2**20

        answer = http.post(path, content=chunks(), headers={"Content-Type": "application/json"})
        assert answer.status_code == 413, answer.text[:300]


def test_tracking_a_number_through_a_fake_case_is_recorded_and_ends_at_withdrawal(
    world: World,
) -> None:
    """Issue 14, finding 3: report a case for a number, read its chain, withdraw it."""
    deployment, authority = world.deployment, world.secret("authority")
    assert authority is not None
    since = now() - timedelta(seconds=5)
    case_id = f"acc-track-{uuid.uuid4().hex[:6]}"
    with deployment.http("ingest", authority) as ingest:
        answer = ingest.post("/v1/cases", json={
            "case_id": case_id, "person_id": raw_person(),
            "onset_at": (now() - timedelta(days=1)).isoformat(), "reported_at": now().isoformat()})
        assert answer.status_code == 202, answer.text
    with deployment.http("alerts", authority, source=fresh_source()) as alerts:
        wait_while_running(lambda: alerts.get(f"/v1/cases/{case_id}/chain").status_code == 200,
                           90, "the case to be traced", deployment.processes)
        with deployment.http("ingest", authority) as ingest:
            assert ingest.delete(f"/v1/cases/{case_id}").status_code == 202
        wait_while_running(lambda: alerts.get(f"/v1/cases/{case_id}/chain").status_code == 410,
                           90, "the withdrawn case to stop being readable", deployment.processes)
    me = token_id(sha256_hex(authority))
    acts = [(line.what, line.token_id) for line in case_acts_since(deployment.settings, since)
            if line.case_id == case_id]
    assert acts == [("report", me), ("withdraw", me)]
    reads = [line for line in reads_since(deployment.settings, since) if line.case_id == case_id]
    assert reads and {(line.what, line.token_id) for line in reads} == {("read case_chain", me)}


def e164(raw: str) -> str:
    """What ingest normalises one of :func:`raw_person`'s numbers to (rule 13)."""
    return "+84" + raw[1:]


def test_every_identifier_is_sealed_to_the_authority_key_and_opens_with_it_only(
    world: World,
) -> None:
    """Issue 16: the directory (topic and table) holds each person's identifier sealed; the
    authority's private key opens it, any other key opens nothing."""
    settings, other = world.deployment.settings, AuthorityPrivateKey.generate()
    records = read_records(settings, settings.topic("directory"))
    entries = [DirectoryEntry.model_validate_json(value) for _, value, _, _ in records if value]
    opened = {entry.pseudonym: AUTHORITY_KEY.open(entry.sealed) for entry in entries}
    assert {e164(world.f0_raw), e164(world.f1_raw)} <= set(opened.values())
    assert {entry.key_id for entry in entries} == {AUTHORITY_KEY.public.key_id}
    for entry in entries:
        with pytest.raises(CannotOpenError):
            other.open(entry.sealed)

    def copied() -> bool:
        return count_rows(settings, "SELECT uniqExact(pseudonym) FROM directory") >= len(opened)

    wait_while_running(copied, 60, "the directory's copy in ClickHouse",
                       world.deployment.processes)
    client = clickhouse_client(settings)
    try:
        stored = client.execute("SELECT pseudonym, sealed FROM directory FINAL")
    finally:
        client.disconnect()
    assert {p: AUTHORITY_KEY.open(sealed) for p, sealed in stored if p in opened} == opened


def test_a_cases_contact_list_opens_to_its_contacts_identifiers_with_the_key_only(
    world: World, tmp_path: Path,
) -> None:
    authority = world.secret("authority")
    with world.deployment.http("alerts", authority) as alerts:
        def sealed_list() -> bool:
            answer = alerts.get(f"/v1/cases/{world.case_id}/contacts.json")
            return answer.status_code == 200 and all(
                row["sealed"] for row in answer.json()["contacts"])

        wait_while_running(sealed_list, 60, "the F1's sealed identifier in the contact list",
                           world.deployment.processes)
        answer = alerts.get(f"/v1/cases/{world.case_id}/contacts.csv")
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
        document = alerts.get(f"/v1/cases/{world.case_id}/contacts.json").json()
    assert world.f1_raw not in answer.text and e164(world.f1_raw) not in answer.text
    key_file, wrong_file = tmp_path / "authority.key", tmp_path / "wrong.key"
    AUTHORITY_KEY.write(key_file)
    AuthorityPrivateKey.generate().write(wrong_file)
    for listing in (answer.text, json.dumps(document)):
        # The module's other tests pushed scans beside the F0 too: every row opens, to one of
        # the raw ids sent, the world's F1 among them.
        opened = open_contacts(listing, read_keys([key_file]))
        identifiers = {row["alert_id"]: row["identifier"] for row in opened.rows}
        assert identifiers[world.alert_id] == e164(world.f1_raw)
        assert opened.opened == len(opened.rows) == len(document["contacts"])
        assert set(identifiers.values()) <= {e164(raw) for raw in RAW_IDS}
        assert {row["identifier"] for row in open_contacts(listing, read_keys([wrong_file])).rows} \
            == {""}
    reads = [line.what for line in reads_since(world.deployment.settings,
                                               now() - timedelta(minutes=5))
             if line.case_id == world.case_id]
    assert "read case_contacts" in reads


def test_a_persons_status_is_looked_up_by_raw_identifier_through_ingest(world: World) -> None:
    since = now() - timedelta(seconds=5)
    with world.deployment.http("ingest", world.secret("authority")) as ingest:
        as_f1 = ingest.post("/v1/people/status", json={"person_id": world.f1_raw}).json()
        # Spelled another way, the same person (ingest's own normaliser, rule 13).
        spelled = "+84 " + world.f1_raw[1:4] + " " + world.f1_raw[4:]
        assert ingest.post("/v1/people/status", json={"person_id": spelled}).json() == as_f1
        as_f0 = ingest.post("/v1/people/status", json={"person_id": world.f0_raw}).json()
        nobody = ingest.post("/v1/people/status", json={"person_id": raw_person()}).json()
    assert (as_f1["status"], as_f1["colour"]) == ("F1", "orange")
    # The F1 was also at the venue of the world's exposure event: that is listed apart.
    [involved] = [c for c in as_f1["cases"] if c["role"] != "venue"]
    assert (involved["case_id"], involved["alert_id"]) == (world.case_id, world.alert_id)
    assert as_f1["follow_up_until"] and as_f1["earliest_exposure"]
    assert (as_f0["status"], as_f0["colour"]) == ("F0", "red")
    assert as_f0["cases"][0]["case_id"] == world.case_id
    assert (nobody["status"], nobody["colour"], nobody["cases"]) == ("none", "green", [])
    looked_up = [line for line in reads_since(world.deployment.settings, since)
                 if line.what == "read person_status"]
    assert len(looked_up) == 4


def test_follow_up_changes_are_kept_and_refused_when_they_cannot_hold(world: World) -> None:
    path = f"/v1/cases/{world.case_id}/alerts/{world.alert_id}"
    with world.deployment.http("alerts", world.secret("authority")) as alerts:
        assert alerts.patch(path, json={"state": "reached", "note": "called"}).status_code == 200
        answer = alerts.patch(path, json={"state": "isolating"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["state"] == "isolating"
        assert [c["state"] for c in answer.json()["history"]][-2:] == ["reached", "isolating"]
        assert alerts.patch(path, json={"state": "cured"}).status_code == 422
        refused = alerts.patch(path, json={"state": "reached", "report_case": {
            "case_id": "never", "sampled_at": now().isoformat()}})
        assert refused.status_code == 422 and refused.json()["error"] == "invalid_follow_up"
        assert alerts.patch(f"/v1/cases/{world.case_id}/alerts/nope",
                            json={"state": "reached"}).status_code == 404
        rows = alerts.get(f"/v1/cases/{world.case_id}/contacts.json").json()["contacts"]
        assert {r["alert_id"]: r["follow_up_state"] for r in rows}[world.alert_id] == "isolating"
        assert "isolating" not in {r["follow_up_state"] for r in rows
                                   if r["alert_id"] != world.alert_id}
        history = alerts.get(path + "/follow-up").json()
        assert history["current"] and history["state"] == "isolating"


def test_follow_up_survives_a_retraction_and_a_positive_contact_continues_the_chain(
    world: World,
) -> None:
    """A late scan retracts the contact's alert and another derives it again: its follow-up
    state and history stay. Tested positive, the contact is reported as a case in the same
    call; that case gets alerts of its own and the first case's chain links to it."""
    d, authority = world.deployment, world.secret("authority")
    suffix = uuid.uuid4().hex[:6]
    venue = d.add_venue(f"acc-fu-{suffix}")
    f0, contact = raw_person(), raw_person()
    case_id, positive_id = f"acc-fu-{suffix}", f"acc-fu-pos-{suffix}"

    def push(*scans: dict[str, str]) -> None:
        with d.http("ingest", venue["api_key"]) as gate:
            answer = gate.post("/v1/scans", json=list(scans))
            assert answer.status_code == 202, answer.text

    push(scan(venue["venue_id"], f0, minutes_ago=90),
         scan(venue["venue_id"], f0, minutes_ago=20, direction="out"),
         scan(venue["venue_id"], contact, minutes_ago=80))
    with d.http("ingest", authority) as ingest:
        assert ingest.post("/v1/cases", json={
            "case_id": case_id, "person_id": f0, "reported_at": now().isoformat(),
            "onset_at": (now() - timedelta(days=1)).isoformat()}).status_code == 202
    with d.http("alerts", authority) as alerts:
        def alert_ids(case: str) -> list[str]:
            answer = alerts.get(f"/v1/cases/{case}/alerts")
            return [a["alert_id"] for a in answer.json()["alerts"]] \
                if answer.status_code == 200 else []

        wait_while_running(lambda: len(alert_ids(case_id)) == 1, 90, "the contact's alert",
                           d.processes)
        [alert_id] = alert_ids(case_id)
        path = f"/v1/cases/{case_id}/alerts/{alert_id}"
        assert alerts.patch(path, json={"state": "isolating"}).status_code == 200
        push(scan(venue["venue_id"], contact, minutes_ago=78, direction="out"))  # 2 min only
        wait_while_running(lambda: alert_ids(case_id) == [], 90, "the alert's retraction",
                           d.processes)
        kept = alerts.get(path + "/follow-up").json()
        assert (kept["current"], kept["state"]) == (False, "isolating")
        push(scan(venue["venue_id"], contact, minutes_ago=70))  # back for 50 min
        wait_while_running(lambda: alert_ids(case_id) == [alert_id], 90,
                           "the alert derived again", d.processes)
        [row] = alerts.get(f"/v1/cases/{case_id}/contacts.json").json()["contacts"]
        assert row["follow_up_state"] == "isolating"

        answer = alerts.patch(path, json={"state": "tested_positive", "report_case": {
            "case_id": positive_id, "sampled_at": (now() - timedelta(hours=1)).isoformat()}})
        assert answer.status_code == 200, answer.text
        assert answer.json()["history"][-1]["reported_case_id"] == positive_id
        wait_while_running(lambda: len(alert_ids(positive_id)) == 1, 90,
                           "the positive contact's own alerts", d.processes)
        assert alerts.patch(path, json={"state": "tested_positive", "report_case": {
            "case_id": positive_id, "sampled_at": now().isoformat()}}).status_code == 409
        chain = alerts.get(f"/v1/cases/{case_id}/chain").json()["chain"]
    [node] = chain["children"]
    assert node["reported_as"] == positive_id
    with d.http("ingest", authority) as ingest:  # the new case is the F0 of its own case
        status = ingest.post("/v1/people/status", json={"person_id": contact}).json()
    assert status["status"] == "F0" and {c["case_id"] for c in status["cases"]} == {
        case_id, positive_id}


def test_no_raw_person_id_reaches_any_topic_table_or_log(world: World) -> None:
    """Runs last in the module: every raw id the tests above sent is checked."""
    settings = world.deployment.settings
    assert len(RAW_IDS) > 20
    prefix = settings.topic_prefix
    for group, short in ((f"{prefix}truyvet-tracer", "scans"),
                         (f"{prefix}truyvet-alerts", "cases")):
        topic = settings.topic(short)
        wait_while_running(
            lambda g=group, t=topic: committed_offsets(settings, g, t)  # type: ignore[misc]
            == end_offsets(settings, t), 90, f"{group} to process all of {topic}",
            world.deployment.processes)
    contacts = settings.topic("contacts")
    wait_while_running(lambda: contacts_read(settings.state_dir) == end_offsets(settings, contacts),
                       90, "the alerts worker to apply all of contacts", world.deployment.processes)
    # Raw as sent and normalised as sealed: a sealed box shows neither (it is random bytes).
    needles = [form.encode() for raw in RAW_IDS for form in (raw, e164(raw))]
    found: list[str] = []
    for topic in deployment_topics(settings):
        for key, value, partition, offset in read_records(settings, topic):
            blob = (key or b"") + b"\x00" + (value or b"")
            found += [f"{topic}[{partition}]@{offset}" for n in needles if n in blob]
    for table, text in table_dumps(settings):
        found += [f"table {table}" for n in needles if n.decode() in text]
    for log in world.deployment.log_files():
        logged = log.read_bytes()
        found += [f"log {log.name}" for n in needles if n in logged]
    assert found == []
