"""``truyvet case report`` and ``truyvet case withdraw``: through the ingest API, as an authority.

A case goes in where every case goes in — ``POST /v1/cases`` with an authority token — so the
person identifier is pseudonymised by ingest alone and the report is audited under that token's
id, as if it came from the health authority's own system.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
from pydantic import ValidationError

from schemas.cases import CaseIn
from truyvet.messages import refusal_text, validation_lines
from truyvet.registry_commands import CommandError

TIMEOUT_S = 30.0


def case_body(
    *,
    case_id: str,
    person_id: str,
    reported_at: datetime,
    onset_at: datetime | None = None,
    sampled_at: datetime | None = None,
    isolated_at: datetime | None = None,
) -> dict[str, Any]:
    """The ``POST /v1/cases`` body, checked here first so a mistake is named before it is sent."""
    try:
        case = CaseIn(case_id=case_id, person_id=person_id, reported_at=reported_at,
                      onset_at=onset_at, sampled_at=sampled_at, isolated_at=isolated_at)
    except ValidationError as exc:
        raise CommandError("; ".join(validation_lines(exc))) from exc
    return case.model_dump(mode="json", exclude_none=True)


def report_case(ingest_url: str, token: str, body: dict[str, Any]) -> dict[str, Any]:
    """Send one case; the service's acceptance (``{"case_id", "status"}``)."""
    return _call("POST", f"{ingest_url}/v1/cases", token, json=body)


def withdraw_case(ingest_url: str, token: str, case_id: str,
                  reason: str | None = None) -> dict[str, Any]:
    """Withdraw a case and its alerts; the service's acceptance."""
    params = {"reason": reason} if reason else None
    return _call("DELETE", f"{ingest_url}/v1/cases/{case_id}", token, params=params)


def _call(method: str, url: str, token: str, **request: Any) -> dict[str, Any]:
    try:
        answer = httpx.request(method, url, headers={"Authorization": f"Bearer {token}"},
                               timeout=TIMEOUT_S, **request)
    except httpx.HTTPError as exc:
        raise CommandError(f"cannot reach the ingest API at {url}: {exc}; is the stack up "
                           "(`truyvet status`)?") from exc
    try:
        body: Any = answer.json()
    except ValueError:
        body = answer.text
    if answer.status_code >= 400:
        raise CommandError(refusal_text(body, answer.status_code))
    if not isinstance(body, dict):
        raise CommandError(f"unexpected answer from {url}: {str(body)[:300]}")
    return body
