"""What ingest accepts and refuses, without HTTP or Kafka."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from pydantic import SecretStr

from services.core.pseudonym import Pseudonymizer
from services.core.secrets import QrSigner
from services.ingest import admission
from services.ingest.admission import (
    AdmissionPolicy,
    BodyError,
    ForeignVenueError,
    parse_scan_items,
)
from services.ingest.identifiers import person_id_normaliser

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SIGNER = QrSigner(SecretStr("q" * 40))
POLICY = AdmissionPolicy(
    pseudonymizer=Pseudonymizer(SecretStr("p" * 40), person_id_normaliser("VN")),
    qr_signer=SIGNER,
    max_clock_skew=timedelta(minutes=5),
    retention=timedelta(days=21),
)


def scan(i: int, **overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "event_id": f"e-{i}",
        "venue_id": "cafe-1",
        "person_id": f"09000000{i:02d}",
        "direction": "in",
        "scanned_at": (NOW - timedelta(hours=1)).isoformat(),
    }
    body.update(overrides)
    return body


def test_body_forms_single_array_and_ndjson() -> None:
    one, two = scan(1), scan(2)
    assert parse_scan_items(orjson.dumps(one), "application/json") == [one]
    assert parse_scan_items(orjson.dumps([one, two]), "application/json") == [one, two]
    ndjson = orjson.dumps(one) + b"\n\n" + orjson.dumps(two) + b"\n"
    assert parse_scan_items(ndjson, "application/x-ndjson") == [one, two]
    assert parse_scan_items(ndjson, "application/json") == [one, two]


@pytest.mark.parametrize("body", [b"", b"   ", b"[]", b"{not json", b'{"a":1}\nnope'])
def test_unreadable_bodies_are_refused(body: bytes) -> None:
    with pytest.raises(BodyError):
        parse_scan_items(body, "application/json")


def test_valid_scans_are_pseudonymised_and_invalid_ones_reported_by_index() -> None:
    items: list[object] = [scan(0), scan(1, direction="up"), "garbage", scan(3)]
    outcome = POLICY.admit(items, "cafe-1", NOW)
    assert [s.event_id for s in outcome.accepted] == ["e-0", "e-3"]
    assert [r.index for r in outcome.refused] == [1, 2]
    assert "direction" in outcome.refused[0].reason
    raw_ids = {"0900000000", "0900000003"}
    assert all(s.person_id not in raw_ids and len(s.person_id) == 64 for s in outcome.accepted)


def test_same_person_same_pseudonym_different_people_differ() -> None:
    outcome = POLICY.admit([scan(0), scan(1, person_id="09 0000 0000"), scan(2)], "cafe-1", NOW)
    a, b, c = (s.person_id for s in outcome.accepted)
    assert a == b != c


def test_one_phone_number_however_written_is_one_pseudonym() -> None:
    spellings = ["+84912345678", "0912345678", "84 912 345 678", "091-234-5678"]
    items: list[object] = [scan(i, person_id=p) for i, p in enumerate(spellings)]
    items.append(scan(9, person_id="0912345679"))
    outcome = POLICY.admit(items, "cafe-1", NOW)
    *same, other = (s.person_id for s in outcome.accepted)
    assert len(set(same)) == 1 and other not in same


def test_duplicate_event_ids_in_one_request_count_once() -> None:
    outcome = POLICY.admit([scan(0), scan(0), scan(1)], "cafe-1", NOW)
    assert len(outcome.accepted) == 2 and outcome.duplicates_in_request == 1


def test_future_and_expired_scans_are_refused_with_reasons() -> None:
    items: list[object] = [
        scan(0, scanned_at=(NOW + timedelta(minutes=4)).isoformat()),
        scan(1, scanned_at=(NOW + timedelta(minutes=6)).isoformat()),
        scan(2, scanned_at=(NOW - timedelta(days=22)).isoformat()),
    ]
    outcome = POLICY.admit(items, "cafe-1", NOW)
    assert [s.event_id for s in outcome.accepted] == ["e-0"]
    assert "future" in outcome.refused[0].reason
    assert "retention" in outcome.refused[1].reason


def test_a_key_pushes_only_for_its_own_venue() -> None:
    with pytest.raises(ForeignVenueError):
        POLICY.admit([scan(0), scan(1, venue_id="bank-9")], "cafe-1", NOW)


def test_forged_qr_payloads_are_refused() -> None:
    good = SIGNER.payload("cafe-1")
    forged = QrSigner(SecretStr("x" * 40)).payload("cafe-1")
    other = SIGNER.payload("bank-9")
    items: list[object] = [scan(0, qr=good), scan(1, qr=forged), scan(2, qr=other)]
    outcome = POLICY.admit(items, "cafe-1", NOW)
    assert [s.event_id for s in outcome.accepted] == ["e-0"]
    assert all("qr" in r.reason for r in outcome.refused)


def test_too_many_scans_in_one_request() -> None:
    body = orjson.dumps([scan(0)] * (admission.MAX_SCANS_PER_MESSAGE + 1))
    with pytest.raises(BodyError, match="at most"):
        parse_scan_items(body, "application/json")
