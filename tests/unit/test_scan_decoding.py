"""The tracer validates ``scans`` messages into dicts, not models: it must reach the same verdicts
as the wire model (:class:`~schemas.scans.ScanBatch`) and read the same scans out of them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.common import WireModel
from schemas.scans import ScanBatch
from services.tracer.codec import _WIRE, LAST_STORABLE_S, UndecodableError, decode_scan_batch
from services.tracer.domain.model import Scan

PERSON = "ab" * 32


def event(n: int) -> dict[str, Any]:
    return {"event_id": f"e{n}", "person_id": PERSON, "direction": "in",
            "scanned_at": "2026-11-20T08:00:00Z", "gate": None, "declaration": None}


def batch(scans: int = 2) -> dict[str, Any]:
    return {"venue_id": "cafe", "scans": [event(n) for n in range(scans)],
            "ingested_at": "2026-11-20T09:00:00Z"}


# Values that one field or another accepts or refuses; each mutation puts one in one place.
ODD_VALUES = st.sampled_from([
    None, "", " e1 ", "e 1", "-e1", "x" * 129, "x" * 128, 7, True, [], {}, "out", "OUT", "in",
    PERSON.upper(), PERSON[:-1], f" {PERSON} ", "2026-11-20T08:00:00", "2026-11-20T08:00:00.999Z",
    "2026-11-20T15:00:00+07:00", "2026-11-20", 1_763_800_000, "gate-1", {"fever": True},
    "0001-01-01T00:00:00+01:00", "1969-12-31T23:59:59Z", "2106-02-07T06:28:15Z",
    "2106-02-07T06:28:16Z", "9999-12-31T23:59:59-01:00",
    {"fever": "yes"}, {"fever": True, "extra": 1},
])
SCAN_KEYS = st.sampled_from(["event_id", "person_id", "direction", "scanned_at", "gate",
                             "declaration", "extra"])
BATCH_KEYS = st.sampled_from(["venue_id", "scans", "ingested_at", "extra"])


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    value = batch(draw(st.integers(0, 3)))
    for _ in range(draw(st.integers(0, 3))):
        scans = value.get("scans")
        if isinstance(scans, list) and scans and draw(st.booleans()):
            target, key = scans[draw(st.integers(0, len(scans) - 1))], draw(SCAN_KEYS)
        else:
            target, key = value, draw(BATCH_KEYS)
        if draw(st.booleans()):
            target.pop(key, None)
        else:
            target[key] = draw(ODD_VALUES)
    return json.dumps(value).encode()


def scans_of_the_model(model: ScanBatch) -> list[Scan]:
    return [Scan(s.event_id, model.venue_id, s.person_id, s.direction.value,
                 int(s.scanned_at.timestamp())) for s in model.scans]


@given(messages())
@example(json.dumps(batch()).encode())
@example(b"not json")
@example(b"[]")
def test_the_tracer_decodes_exactly_what_the_wire_model_accepts(value: bytes) -> None:
    try:
        model = ScanBatch.model_validate_json(value)
    except (ValidationError, OverflowError):  # the model cannot move some times to UTC
        with pytest.raises(UndecodableError, match=r"^not a ScanBatch: "):
            decode_scan_batch(value)
        return
    times = [int(s.scanned_at.timestamp()) for s in model.scans]
    times.append(int(model.ingested_at.timestamp()))
    if not all(0 <= t <= LAST_STORABLE_S for t in times):  # the tracer refuses what CH can't hold
        with pytest.raises(UndecodableError, match="outside what ClickHouse holds"):
            decode_scan_batch(value)
        return
    decoded = decode_scan_batch(value)
    assert decoded.venue_id == model.venue_id
    assert decoded.scans == scans_of_the_model(model)
    assert decoded.gates == [s.gate or "" for s in model.scans]
    if b"ingested_at" in value:
        assert decoded.ingested_at == int(model.ingested_at.timestamp())


def test_a_refusal_gives_the_wire_models_reason() -> None:
    value = batch()
    value["scans"][1]["person_id"] = "Ann"
    with pytest.raises(UndecodableError, match=r"scans\.1\.person_id: String should have"):
        decode_scan_batch(json.dumps(value).encode())


def test_the_dicts_follow_the_wire_models_rules() -> None:
    assert {**WireModel.model_config, "frozen": False} == {**_WIRE, "frozen": False}
