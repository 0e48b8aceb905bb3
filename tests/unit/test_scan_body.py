"""Scan bodies read as they arrive: duplicate keys refused, the scan cap enforced while reading
(issue 14, finding 9)."""

from __future__ import annotations

import orjson
import pytest

from schemas.scans import MAX_SCANS_PER_MESSAGE
from services.core.http.strict_json import DuplicateKeyError, loads_strict
from services.ingest.admission import BodyError, ScanItemReader, parse_scan_items

SIXTEEN_MB = 16 * 1024 * 1024


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"event_id": "a", "event_id": "b"}', "application/json"),
        (b'[{"person_id":"1"},{"person_id":"2","person_id":"3"}]', "application/json"),
        (b'{"a":1}\n{"gate":"g","declaration":{"x":1,"x":2}}\n', "application/x-ndjson"),
        (b'{"a":1}\n{"a":2,"a":3}\n', "application/json"),  # NDJSON without its content type
    ],
)
def test_a_repeated_key_is_refused_in_every_format(body: bytes, content_type: str) -> None:
    with pytest.raises(BodyError, match="appears twice"):
        parse_scan_items(body, content_type)


def test_compact_and_spaced_json_without_repeats_read_the_same() -> None:
    items = [{"event_id": f"e{i}", "declaration": {"fever": False}} for i in range(3)]
    compact = orjson.dumps(items)
    spaced = orjson.dumps(items, option=orjson.OPT_INDENT_2)
    assert parse_scan_items(compact, "application/json") == items
    assert parse_scan_items(spaced, "application/json") == items
    with pytest.raises(DuplicateKeyError):
        loads_strict(b'{"a": {"b": 1,\n "b": 1}}')


def test_ndjson_over_the_cap_is_refused_while_it_arrives() -> None:
    line = b"{}\n"
    chunk = line * 20_000  # 60 kB, as a socket would hand them over
    reader = ScanItemReader("application/x-ndjson")
    fed = 0
    with pytest.raises(BodyError, match=f"at most {MAX_SCANS_PER_MESSAGE} scans"):
        while fed < SIXTEEN_MB:
            reader.feed(chunk)
            fed += len(chunk)
    assert fed <= len(chunk), "refused within the first chunk past the cap, not at the end"


def test_a_json_array_of_sixteen_mb_of_objects_is_refused_at_the_cap() -> None:
    body = b"[" + b"{}," * (SIXTEEN_MB // 3 - 1) + b"{}]"
    with pytest.raises(BodyError, match=f"at most {MAX_SCANS_PER_MESSAGE} scans"):
        parse_scan_items(body, "application/json")


def test_braces_inside_strings_do_not_refuse_a_batch_within_the_cap() -> None:
    items = [{"event_id": f"e{i}", "gate": "{{{{{{"} for i in range(1_000)]
    assert len(parse_scan_items(orjson.dumps(items), "application/json")) == 1_000


@pytest.mark.parametrize("tail", [b"", b"]  x", b",]", b" 2]", b',{"a":1,"a":2}]'])
def test_a_body_read_element_by_element_is_still_checked_whole(tail: bytes) -> None:
    # Braces in strings send a batch within the cap down the element-by-element path.
    many = b",".join([b'{"gate":"{{{{{{{{"}'] * 5_000)
    assert many.count(b"{") > 4 * MAX_SCANS_PER_MESSAGE
    with pytest.raises(BodyError):
        parse_scan_items(b"[" + many + tail, "application/json")
    assert len(parse_scan_items(b"[" + many + b"]", "application/json")) == 5_000
