"""The ingest API against the real Kafka: what gets in, pseudonymised, and every refusal."""

from __future__ import annotations

import socket
import time
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from kafka import KafkaProducer

from schemas.cases import CaseReported, CaseWithdrawn
from schemas.scans import ScanBatch
from services.core.kafka_connection import kafka_options
from tests.integration.conftest import BODY_TIMEOUT_S, HEAD_TIMEOUT_S, IngestUnderTest
from tests.support.kafka_read import read_topic
from tests.support.pseudonyms import pseudonym as keyed
from tests.support.pseudonyms import vn_mobile_e164

pytestmark = pytest.mark.integration


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def scan(
    venue_id: str,
    person: str,
    direction: str = "in",
    minutes_ago: int = 30,
    event_id: str | None = None,
) -> dict[str, object]:
    return {
        "event_id": event_id or f"e-{uuid.uuid4().hex[:12]}",
        "venue_id": venue_id,
        "person_id": person,
        "direction": direction,
        "scanned_at": (now() - timedelta(minutes=minutes_ago)).isoformat(),
    }


def pseudonym(ingest: IngestUnderTest, national: str) -> str:
    """What ingest makes of a Vietnamese mobile number written nationally: its E.164, keyed."""
    return keyed(ingest.settings, vn_mobile_e164(national))


def scans_of_venue(ingest: IngestUnderTest, venue_id: str, at_least: int) -> list[ScanBatch]:
    topic = ingest.settings.topic("scans")
    batches: list[ScanBatch] = []

    def collect() -> list[ScanBatch]:
        records = read_topic(ingest.settings, topic)
        found = [
            ScanBatch.model_validate_json(v) for k, v, _, _ in records if k == venue_id.encode()
        ]
        return found if sum(len(b.scans) for b in found) >= at_least else []

    from tests.support.processes import wait_for

    batches = wait_for(collect, 30, f"{at_least} scans of {venue_id} on the scans topic")
    return batches


def test_scans_reach_the_topic_pseudonymised_exactly_once_per_event(
    ingest: IngestUnderTest,
) -> None:
    venue = ingest.add_venue()
    vid, key = venue["venue_id"], venue["api_key"]
    people = [f"0912{i:06d}" for i in range(40)]
    body = [scan(vid, p, event_id=f"ev-{i}") for i, p in enumerate(people)]
    body += [body[3], body[7]]  # a scanner that sent two scans twice
    with ingest.client(key) as http:
        answer = http.post("/v1/scans", json=body)
        assert answer.status_code == 202, answer.text
        receipt = answer.json()
        assert receipt["accepted"] == 40 and receipt["duplicates_in_request"] == 2
        assert receipt["refused"] == []
        ndjson = b"\n".join(
            orjson.dumps(scan(vid, p, "out", 5, f"ev-out-{i}")) for i, p in enumerate(people[:10])
        )
        answer = http.post(
            "/v1/scans", content=ndjson, headers={"Content-Type": "application/x-ndjson"}
        )
        assert answer.status_code == 202 and answer.json()["accepted"] == 10, answer.text

    batches = scans_of_venue(ingest, vid, 50)
    events = [s for b in batches for s in b.scans]
    event_ids = [s.event_id for s in events]
    assert sorted(event_ids) == sorted(
        {*(f"ev-{i}" for i in range(40)), *(f"ev-out-{i}" for i in range(10))}
    )
    by_event = {s.event_id: s for s in events}
    for i, person in enumerate(people):
        assert by_event[f"ev-{i}"].person_id == pseudonym(ingest, person)
    raw = set(people)
    for _, v, _, _ in read_topic(ingest.settings, ingest.settings.topic("scans")):
        assert not any(p.encode() in v for p in raw), "a raw person id reached the scans topic"


def test_invalid_scans_are_reported_by_index_and_valid_ones_kept(ingest: IngestUnderTest) -> None:
    venue = ingest.add_venue()
    vid = venue["venue_id"]
    body = [
        scan(vid, "0900000001"),
        {**scan(vid, "0900000002"), "direction": "sideways"},
        {**scan(vid, "0900000003"), "scanned_at": (now() + timedelta(hours=2)).isoformat()},
        {**scan(vid, "0900000004"), "scanned_at": (now() - timedelta(days=30)).isoformat()},
        {**scan(vid, "0900000005"), "scanned_at": "2026-11-20T08:00:00"},
        scan(vid, "0900000006"),
    ]
    with ingest.client(venue["api_key"]) as http:
        answer = http.post("/v1/scans", json=body)
    assert answer.status_code == 202, answer.text
    receipt = answer.json()
    assert receipt["accepted"] == 2
    refused = {r["index"]: r["reason"] for r in receipt["refused"]}
    assert sorted(refused) == [1, 2, 3, 4]
    assert "direction" in refused[1] and "future" in refused[2]
    assert "retention" in refused[3] and "timezone" in refused[4].lower()


def test_a_request_with_no_valid_scan_is_422_with_reasons(ingest: IngestUnderTest) -> None:
    venue = ingest.add_venue()
    with ingest.client(venue["api_key"]) as http:
        answer = http.post("/v1/scans", json=[{"event_id": "x"}])
        assert answer.status_code == 422
        assert answer.json()["refused"][0]["index"] == 0
        for body in (b"", b"{not json", b"[]"):
            answer = http.post(
                "/v1/scans", content=body, headers={"Content-Type": "application/json"}
            )
            assert answer.status_code == 422, body
            assert answer.json()["error"] == "invalid_body"


@pytest.mark.parametrize(
    ("method", "path", "who", "status"),
    [
        ("post", "/v1/scans", None, 401),
        ("post", "/v1/scans", "bogus", 401),
        ("post", "/v1/scans", "dashboard", 403),
        ("post", "/v1/scans", "authority", 403),
        ("post", "/v1/venues", "authority", 403),
        ("post", "/v1/venues", "dashboard", 403),
        ("post", "/v1/venues", "venue", 403),
        ("post", "/v1/cases", "venue", 403),
        ("post", "/v1/cases", "dashboard", 403),
        ("post", "/v1/cases", "admin", 403),
        ("delete", "/v1/cases/c-1", "dashboard", 403),
        ("delete", "/v1/cases/c-1", None, 401),
        ("post", "/v1/tokens", "authority", 403),
    ],
)
def test_each_role_reaches_only_what_it_may(
    ingest: IngestUnderTest, method: str, path: str, who: str | None, status: int
) -> None:
    venue = ingest.add_venue()
    secret = {
        "dashboard": ingest.dashboard,
        "authority": ingest.authority,
        "admin": ingest.admin,
        "venue": venue["api_key"],
        "bogus": "tvt_not-a-token",
        None: None,
    }[who]
    with ingest.client(secret) as http:
        body = {"name": "x"} if path == "/v1/venues" else [scan(venue["venue_id"], "0900000001")]
        answer = http.request(method.upper(), path, json=body if method == "post" else None)
    assert answer.status_code == status, answer.text
    problem = answer.json()
    assert problem["error"] in {"unauthorized", "forbidden"} and problem["detail"]


def test_a_venue_key_cannot_push_for_another_venue(ingest: IngestUnderTest) -> None:
    mine, theirs = ingest.add_venue(), ingest.add_venue()
    with ingest.client(mine["api_key"]) as http:
        answer = http.post(
            "/v1/scans",
            json=[scan(mine["venue_id"], "0900000001"), scan(theirs["venue_id"], "0900000002")],
        )
    assert answer.status_code == 403
    assert theirs["venue_id"] in answer.json()["detail"]


def test_oversized_bodies_are_refused(ingest: IngestUnderTest) -> None:
    venue = ingest.add_venue()
    with ingest.client(venue["api_key"]) as http:
        answer = http.post(
            "/v1/scans",
            content=b" " * (17 * 1024 * 1024),
            headers={"Content-Type": "application/json"},
        )
    assert answer.status_code == 413 and answer.json()["error"] == "payload_too_large"


def test_qr_codes_are_signed_and_forgeries_refused(ingest: IngestUnderTest) -> None:
    venue = ingest.add_venue(name="Cafe QR")
    vid, payload = venue["venue_id"], venue["qr_payload"]
    with ingest.client(venue["api_key"]) as http:
        svg = http.get(f"/v1/venues/{vid}/qr.svg")
        png = http.get(f"/v1/venues/{vid}/qr.png")
        assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
        assert b"<svg" in svg.content
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
        verified = http.post("/v1/qr/verify", json={"payload": payload})
        assert verified.status_code == 200 and verified.json()["venue_id"] == vid
        forged = payload[:-3] + ("AAA" if not payload.endswith("AAA") else "BBB")
        assert http.post("/v1/qr/verify", json={"payload": forged}).status_code == 422
        other = payload.replace(vid, "someone-else")
        assert http.post("/v1/qr/verify", json={"payload": other}).status_code == 422
        # A scan carrying a forged code is refused; one with the real code is accepted.
        answer = http.post(
            "/v1/scans",
            json=[
                {**scan(vid, "0900000001"), "qr": payload},
                {**scan(vid, "0900000002"), "qr": forged},
            ],
        )
        assert answer.status_code == 202
        assert answer.json()["accepted"] == 1 and answer.json()["refused"][0]["index"] == 1


def test_cases_and_withdrawals_reach_the_cases_topic_with_the_same_pseudonym(
    ingest: IngestUnderTest,
) -> None:
    case_id = f"case-{uuid.uuid4().hex[:8]}"
    body = {
        "case_id": case_id,
        "person_id": "+84 912 000 007",  # the authority writes the number internationally
        "onset_at": (now() - timedelta(days=2)).isoformat(),
        "reported_at": now().isoformat(),
    }
    venue = ingest.add_venue()
    with ingest.client(venue["api_key"]) as http:  # the gate read it nationally, with dashes
        answer = http.post("/v1/scans", json=[scan(venue["venue_id"], "091-200-0007")])
        assert answer.status_code == 202, answer.text
    with ingest.client(ingest.authority) as http:
        assert http.post("/v1/cases", json=body).status_code == 202
        assert http.post("/v1/cases", json={**body, "onset_at": None}).status_code == 422
        assert http.delete(f"/v1/cases/{case_id}").status_code == 202
    records = read_topic(ingest.settings, ingest.settings.topic("cases"), 2)
    mine = [v for k, v, _, _ in records if k == case_id.encode()]
    reported = CaseReported.model_validate_json(mine[0])
    withdrawn = CaseWithdrawn.model_validate_json(mine[1])
    assert reported.person_id == pseudonym(ingest, "0912000007")
    (scanned,) = [s for b in scans_of_venue(ingest, venue["venue_id"], 1) for s in b.scans]
    assert scanned.person_id == reported.person_id  # rule 13: one person, one pseudonym
    assert withdrawn.case_id == case_id
    assert not any(b"912000007" in v for _, v, _, _ in records)


def test_tokens_issued_over_http_work_for_their_role_only(ingest: IngestUnderTest) -> None:
    with ingest.client(ingest.admin) as http:
        answer = http.post("/v1/tokens", json={"role": "dashboard", "label": "wall"})
    assert answer.status_code == 201
    token = answer.json()["token"]
    venue = ingest.add_venue()
    with ingest.client(token) as http:
        assert http.get(f"/v1/venues/{venue['venue_id']}").status_code == 200
        assert http.post("/v1/venues", json={"name": "x"}).status_code == 403


def test_openapi_documents_the_public_paths(ingest: IngestUnderTest) -> None:
    with ingest.client() as http:
        doc = http.get("/openapi.json").json()
    for path in (
        "/v1/venues",
        "/v1/scans",
        "/v1/cases",
        "/v1/cases/{case_id}",
        "/v1/venues/{venue_id}/qr.svg",
        "/v1/venues/{venue_id}/qr.png",
    ):
        assert path in doc["paths"]
    assert "ScanIn" in doc["components"]["schemas"]


# Valid ISO 8601 times whose UTC is before year 1 or after year 9999.
UNREPRESENTABLE_IN_UTC = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]


def test_times_with_no_utc_are_refused_by_index_not_answered_as_an_outage(
    ingest: IngestUnderTest,
) -> None:
    venue = ingest.add_venue()
    vid = venue["venue_id"]
    extreme = [{**scan(vid, "0900000011"), "scanned_at": t} for t in UNREPRESENTABLE_IN_UTC]
    with ingest.client(venue["api_key"]) as http:
        answer = http.post("/v1/scans", json=[scan(vid, "0900000010"), *extreme])
        assert answer.status_code == 202, answer.text
        receipt = answer.json()
        assert receipt["accepted"] == 1
        assert [r["index"] for r in receipt["refused"]] == [1, 2]
        assert all("scanned_at" in r["reason"] and "UTC" in r["reason"]
                   for r in receipt["refused"])
        answer = http.post("/v1/scans", json=extreme)  # nothing acceptable: 422, same body
        assert answer.status_code == 422, answer.text
        assert "Retry-After" not in answer.headers
        assert [r["index"] for r in answer.json()["refused"]] == [0, 1]


@pytest.mark.parametrize("field", ["onset_at", "reported_at", "isolated_at"])
@pytest.mark.parametrize("at", [*UNREPRESENTABLE_IN_UTC, "1900-01-01T00:00:00+07:00",
                                "2200-01-01T00:00:00Z"])
def test_case_times_with_no_utc_or_out_of_the_stores_range_are_422(
    ingest: IngestUnderTest, field: str, at: str
) -> None:
    body = {
        "case_id": f"case-{uuid.uuid4().hex[:8]}",
        "person_id": "0912000008",
        "onset_at": (now() - timedelta(days=2)).isoformat(),
        "reported_at": now().isoformat(),
        field: at,
    }
    with ingest.client(ingest.authority) as http:
        answer = http.post("/v1/cases", json=body)
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["error"] == "invalid" and field in orjson.dumps(problem["errors"]).decode()
    assert "Retry-After" not in answer.headers


def test_withdrawing_a_case_never_reported_is_404(ingest: IngestUnderTest) -> None:
    never = f"case-{uuid.uuid4().hex[:8]}"
    with ingest.client(ingest.authority) as http:
        answer = http.delete(f"/v1/cases/{never}")
    assert answer.status_code == 404, answer.text
    assert answer.json()["error"] == "not_found" and never in answer.json()["detail"]
    records = read_topic(ingest.settings, ingest.settings.topic("cases"))
    assert not any(k == never.encode() for k, _, _, _ in records), "a withdrawal of nothing"


def test_a_case_reported_through_another_replica_can_be_withdrawn_and_withdrawn_again(
    ingest: IngestUnderTest,
) -> None:
    case_id = f"case-{uuid.uuid4().hex[:8]}"
    elsewhere = CaseReported(
        case_id=case_id, person_id="a" * 64, onset_at=now() - timedelta(days=1),
        reported_at=now(),
    )
    # Written to the topic as another ingest replica would have, not through this one.
    producer = KafkaProducer(**kafka_options(ingest.settings), acks="all")
    try:
        producer.send(ingest.settings.topic("cases"), key=case_id.encode(),
                      value=elsewhere.model_dump_json().encode()).get(timeout=30)
    finally:
        producer.close(timeout=10)
    with ingest.client(ingest.authority) as http:
        first = http.delete(f"/v1/cases/{case_id}")
        again = http.delete(f"/v1/cases/{case_id}")  # a retry after a lost answer
    assert (first.status_code, again.status_code) == (202, 202), (first.text, again.text)
    assert first.json() == {"case_id": case_id, "status": "withdrawn"}


# --- slow and crafted requests (issue 14, finding 9) -----------------------------------------


def _ingest_address(ingest: IngestUnderTest) -> tuple[str, int]:
    return ingest.settings.ingest_host, ingest.settings.ingest_port


def test_a_connection_that_sends_no_request_head_in_time_is_closed(
    ingest: IngestUnderTest,
) -> None:
    for sent in (b"", b"POST /v1/scans HTTP/1.1\r\nHost: x\r\n"):  # silent; headers unfinished
        with socket.create_connection(_ingest_address(ingest), timeout=5) as conn:
            conn.sendall(sent)
            opened = time.monotonic()
            conn.settimeout(HEAD_TIMEOUT_S + 5)
            assert conn.recv(1024) == b""  # closed by the server, before our own timeout
            assert time.monotonic() - opened >= HEAD_TIMEOUT_S - 0.5


def test_a_body_that_does_not_arrive_in_time_is_408(ingest: IngestUnderTest) -> None:
    venue = ingest.add_venue()
    for path, secret in (("/v1/scans", venue["api_key"]), ("/v1/cases", ingest.authority)):
        head = (f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {secret}\r\n"
                "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n[{").encode()
        with socket.create_connection(_ingest_address(ingest), timeout=5) as conn:
            conn.sendall(head)
            conn.settimeout(BODY_TIMEOUT_S + 5)
            answer = conn.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]


def test_sixteen_mb_of_empty_ndjson_lines_is_refused_at_the_cap(ingest: IngestUnderTest) -> None:
    venue = ingest.add_venue()
    with ingest.client(venue["api_key"]) as http:
        answer = http.post("/v1/scans", content=b"{}\n" * (16 * 1024 * 1024 // 3),
                           headers={"Content-Type": "application/x-ndjson"})
    assert answer.status_code == 422, answer.text
    assert "at most 10000 scans" in answer.json()["detail"]


def test_repeated_json_keys_are_422_on_scans_and_cases(ingest: IngestUnderTest) -> None:
    venue = ingest.add_venue()
    one = orjson.dumps(scan(venue["venue_id"], "0912345678"))[:-1] + b',"person_id":"0987654321"}'
    with ingest.client(venue["api_key"]) as http:
        answer = http.post("/v1/scans", content=one, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422 and "'person_id' appears twice" in answer.text
    case = (b'{"case_id":"dup-1","person_id":"0912345678","person_id":"0987654321",'
            b'"onset_at":"2026-11-22T00:00:00Z","reported_at":"2026-11-23T00:00:00Z"}')
    with ingest.client(ingest.authority) as http:
        answer = http.post("/v1/cases", content=case, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422 and "'person_id' appears twice" in answer.text
