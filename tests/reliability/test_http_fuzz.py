"""Schemathesis against both HTTP services' own ``/openapi.json``, with valid credentials;
then hypothesis with the values a schema does not think of (extreme times, offsets, ids).

Every operation gets positive and negative generated requests (bounded: ``MAX_EXAMPLES`` each,
a fixed seed, derandomized so that CI runs the same requests every time). No answer may be a
5xx, and every status, media type and body must be what the operation documents. The SSE
stream is left out (it never ends); the role table in ``test_access.py`` covers it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.config import SchemathesisConfig

from schemas.registry import Role
from services.core.config import Settings
from tests.reliability.deployment import Deployment, running_deployment

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 25
SEED = 20261123


@pytest.fixture(scope="module")
def fuzzed(stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with running_deployment(stack, tmp_path_factory.mktemp("fuzz"), workers=False) as deployment:
        deployment.venue = deployment.add_venue("fuzz-venue")  # type: ignore[attr-defined]
        yield deployment


def load(deployment: Deployment, service: str) -> Any:
    config = SchemathesisConfig(seed=SEED)
    config.projects.default.generation.update(max_examples=MAX_EXAMPLES, deterministic=True,
                                              database="none")
    return schemathesis.openapi.from_url(f"{deployment.url(service)}/openapi.json",
                                         config=config)


def credential(deployment: Deployment, method: str, path: str) -> str | None:
    """The credential an honest caller of this operation would send."""
    tokens, venue = deployment.tokens, deployment.venue  # type: ignore[attr-defined]
    if path == "/v1/scans":
        return str(venue["api_key"])
    if path.startswith("/v1/cases") and method in {"POST", "DELETE"}:
        return tokens[Role.AUTHORITY]
    if path in {"/v1/venues", "/v1/tokens"}:
        return tokens[Role.ADMIN]
    return tokens[Role.DASHBOARD]


def call(deployment: Deployment, case: Any, sent: Counter[str]) -> None:
    if case.path == "/v1/scans":  # aim generated scans at the caller's venue, so some get in
        items = case.body if isinstance(case.body, list) else [case.body]
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("venue_id"), str):
                item["venue_id"] = deployment.venue["venue_id"]  # type: ignore[attr-defined]
    secret = credential(deployment, case.method, case.path)
    headers = {"Authorization": f"Bearer {secret}"} if secret else None
    response = case.call_and_validate(
        headers=headers, timeout=30,
        # Every status, media type and body is the one the document states (problem+json
        # refusals included).
        checks=[not_a_server_error, status_code_conformance, content_type_conformance,
                response_schema_conformance])
    sent[f"{response.status_code // 100}xx"] += 1


def fuzz(deployment: Deployment, schema: Any) -> tuple[list[str], Counter[str]]:
    """Every operation, positive then negative, ``MAX_EXAMPLES`` generated requests each.

    Returns the failures found (one shrunk example per operation and mode, readable) and the
    requests sent by status class.
    """
    failures: list[str] = []
    sent: Counter[str] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
                      suppress_health_check=list(HealthCheck), database=None)
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: Any) -> None:
                call(deployment, case, sent)

            try:
                run()
            except Unsatisfiable:
                pass  # nothing to make invalid (no parameters, no body): positive mode only
            except (Exception, BaseExceptionGroup) as exc:  # a check failed: collect it
                failures.append(f"{operation.label} ({mode.value}): {str(exc)[:1500]}")
    return failures, sent


def test_ingest_answers_every_generated_request_with_a_documented_non_5xx(
    fuzzed: Deployment, record_property: Any
) -> None:
    failures, sent = fuzz(fuzzed, load(fuzzed, "ingest"))
    record_property("requests", dict(sent))
    assert not failures, "\n\n".join(failures)
    assert sum(sent.values()) >= 300 and sent["2xx"] and sent["4xx"], sent


def test_alerts_answers_every_generated_request_with_a_documented_non_5xx(
    fuzzed: Deployment, record_property: Any
) -> None:
    failures, sent = fuzz(fuzzed, load(fuzzed, "alerts").exclude(path="/v1/alerts/stream"))
    record_property("requests", dict(sent))
    assert not failures, "\n\n".join(failures)
    assert sum(sent.values()) >= 100 and sent["2xx"] and sent["4xx"], sent



# --- extreme values --------------------------------------------------------------------------
# Well-formed enough to reach the code behind the schema: times at the ends of what datetime
# (and ClickHouse) can hold, with any offset; partitions and offsets past int32 and int64; ids
# of any character. Every answer must be a 4xx or a success, never a 5xx (issue 14, finding 6).

EXTREME_EXAMPLES = 40

_years = st.sampled_from([1, 1969, 1970, 2105, 2106, 2107, 9999]) | st.integers(1, 9999)
_offsets = st.sampled_from(["Z", "+14:00", "-14:00", "+23:59", "-23:59", "+00:00", ""])
_times = st.builds(
    lambda y, mo, d, h, mi, fr, off: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:00{fr}{off}",
    _years, st.integers(1, 12), st.integers(1, 31), st.integers(0, 24), st.integers(0, 60),
    st.sampled_from(["", ".5", ".999999999", "." + "9" * 40]), _offsets,
) | st.sampled_from(["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00",
                     "1e308", "-1", "2026-02-30T00:00:00Z", "\u0000"])
_ids = st.text(min_size=1, max_size=300) | st.sampled_from(
    ["..", "%00", "a" * 10_000, "../../etc/passwd", "\u202e", "0" * 64])
_big = st.integers(-(2**70), 2**70) | st.sampled_from([2**31, 2**63, 2**64, -1])
_event_ids = st.lists(st.tuples(_big, _big), min_size=1, max_size=4).map(
    lambda pairs: ",".join(f"{p}:{o}" for p, o in pairs)
) | st.text(max_size=50)


def _check(response: Any, sent: Counter[str]) -> None:
    sent[f"{response.status_code // 100}xx"] += 1
    assert response.status_code < 500, (response.request.method, str(response.request.url),
                                        response.status_code, response.text[:500])


def _extreme(run: Any) -> Any:
    return settings(max_examples=EXTREME_EXAMPLES, deadline=None, derandomize=True,
                    suppress_health_check=list(HealthCheck), database=None)(run)


def test_ingest_refuses_extreme_times_and_ids_with_a_4xx(fuzzed: Deployment) -> None:
    venue = fuzzed.venue  # type: ignore[attr-defined]
    sent: Counter[str] = Counter()
    with fuzzed.http("ingest", venue["api_key"]) as gate, \
            fuzzed.http("ingest", fuzzed.tokens[Role.AUTHORITY]) as authority:

        @_extreme
        @given(scanned_at=_times, event_id=_ids, person_id=_ids, onset=_times, reported=_times,
               case_id=_ids)
        def run(scanned_at: str, event_id: str, person_id: str, onset: str, reported: str,
                case_id: str) -> None:
            scan = {"event_id": event_id, "venue_id": venue["venue_id"], "person_id": person_id,
                    "direction": "in", "scanned_at": scanned_at}
            _check(gate.post("/v1/scans", json=[scan]), sent)
            _check(gate.post("/v1/scans", content=orjson.dumps(scan) + b"\n",
                             headers={"Content-Type": "application/x-ndjson"}), sent)
            case = {"case_id": case_id, "person_id": person_id, "onset_at": onset,
                    "reported_at": reported}
            _check(authority.post("/v1/cases", json=case), sent)
            _check(authority.delete(f"/v1/cases/{quote(case_id, safe='')}"), sent)

        run()
    assert sent["4xx"] and set(sent) <= {"2xx", "4xx"}, sent


def test_alerts_refuses_extreme_offsets_dates_and_ids_with_a_4xx(fuzzed: Deployment) -> None:
    sent: Counter[str] = Counter()
    with fuzzed.http("alerts", fuzzed.tokens[Role.AUTHORITY]) as reader:

        @_extreme
        @given(last_event_id=_event_ids, day=_times | st.text(max_size=30), some_id=_ids)
        def run(last_event_id: str, day: str, some_id: str) -> None:
            quoted = quote(some_id, safe="")
            _check(reader.get(f"/v1/cases/{quoted}/alerts"), sent)
            _check(reader.get(f"/v1/cases/{quoted}/chain"), sent)
            _check(reader.get(f"/v1/venues/{quoted}/graph", params={"date": day[:10]}), sent)
            # As bytes (any UTF-8 a client may send); only what HTTP cannot carry is left out.
            sent_id = last_event_id.encode("utf-8", "replace").translate(None, b"\r\n\x00")
            headers = {"Last-Event-ID": sent_id.strip()}
            with reader.stream("GET", "/v1/alerts/stream", headers=headers) as response:
                _check(response, sent)  # a valid id opens the stream: its status is enough

        run()
    assert sent["4xx"] and set(sent) <= {"2xx", "4xx"}, sent
