"""Wire models: strict validation, and the exported JSON Schema / AsyncAPI files are current."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from schemas import export
from schemas.cases import CaseIn, CaseReported
from schemas.scans import ScanBatch, ScanEvent, ScanIn

PSEUDONYM = "a" * 64


def scan_in(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "event_id": "e-1",
        "venue_id": "cafe-1",
        "person_id": "0912345678",
        "direction": "in",
        "scanned_at": "2026-11-20T08:00:00.750+07:00",
    }
    body.update(overrides)
    return body


def test_exported_schema_files_are_current() -> None:
    stale = export.stale_files()
    assert stale == [], f"run `python -m schemas.export`; stale: {stale}"


def test_scan_times_are_normalised_to_utc_seconds() -> None:
    scan = ScanIn.model_validate(scan_in())
    assert scan.scanned_at == datetime(2026, 11, 20, 1, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("scanned_at", "2026-11-20T08:00:00"),  # naive
        ("direction", "sideways"),
        ("event_id", ""),
        ("event_id", "x" * 129),
        ("venue_id", "has space"),
        ("person_id", "ab"),
    ],
)
def test_scan_refuses_bad_values(field: str, value: str) -> None:
    with pytest.raises(ValidationError):
        ScanIn.model_validate(scan_in(**{field: value}))


def test_scan_refuses_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        ScanIn.model_validate(scan_in(extra="x"))


def test_topic_scan_needs_a_pseudonym_not_a_raw_identifier() -> None:
    event = {"event_id": "e", "direction": "in", "scanned_at": "2026-11-20T01:00:00Z"}
    with pytest.raises(ValidationError):
        ScanEvent.model_validate({**event, "person_id": "0912345678"})
    assert ScanEvent.model_validate({**event, "person_id": PSEUDONYM}).person_id == PSEUDONYM


def test_batch_round_trips_through_json() -> None:
    event = ScanEvent.model_validate(
        {
            "event_id": "e",
            "direction": "out",
            "scanned_at": "2026-11-20T01:00:00Z",
            "person_id": PSEUDONYM,
        }
    )
    batch = ScanBatch(venue_id="v", scans=[event])
    assert ScanBatch.model_validate_json(batch.model_dump_json()) == batch


def test_case_needs_onset_or_sampled() -> None:
    with pytest.raises(ValidationError, match="onset_at or sampled_at"):
        CaseIn.model_validate(
            {"case_id": "c", "person_id": "0912345678", "reported_at": "2026-11-20T01:00:00Z"}
        )


def test_case_refuses_onset_after_report() -> None:
    with pytest.raises(ValidationError):
        CaseReported.model_validate(
            {
                "case_id": "c",
                "person_id": PSEUDONYM,
                "onset_at": "2026-11-21T00:00:00Z",
                "reported_at": "2026-11-20T00:00:00Z",
            }
        )
