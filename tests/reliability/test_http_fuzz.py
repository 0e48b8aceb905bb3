"""Schemathesis against both HTTP services' own ``/openapi.json``, with valid credentials.

Every operation gets positive and negative generated requests (bounded: ``MAX_EXAMPLES`` each,
a fixed seed, derandomized so that CI runs the same requests every time). No answer may be a
5xx, and every status must be one the operation documents. The SSE stream is left out (it never
ends); the role table in ``test_access.py`` covers it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, status_code_conformance
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
        headers=headers, checks=[not_a_server_error, status_code_conformance], timeout=30)
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

