"""``POST /v1/people/status``: one person's status, asked with their raw identifier.

The identifier comes in the body (never a URL, which access logs and proxies keep) and goes no
further than this process: it is normalised and pseudonymised by the same function as every
scan and case (rule 13, ``services/ingest/identifiers.py``), and the alerts API, which holds
the cases and alerts, is asked with the pseudonym and the caller's own token, so the read is
authorised and audited there as the authority's.
"""

from __future__ import annotations

import logging
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from schemas.people import PersonStatus, PersonStatusQuery
from schemas.registry import Role
from services.core.http.auth import Principal, requires
from services.core.http.errors import ApiError, refusals
from services.ingest.context import IngestContext, context

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["people"])


@router.post("/people/status", response_model=PersonStatus,
             responses=refusals(401, 403, 422, 429, 503),
             summary="A person's status across open cases (F0, F1, F2 … or none, with "
                     "PC-Covid's colours), asked with the raw identifier in the body")
async def person_status(body: PersonStatusQuery, request: Request,
                        ctx: Annotated[IngestContext, Depends(context)],
                        who: Annotated[Principal, Depends(requires(Role.AUTHORITY))],
                        ) -> JSONResponse:
    pseudonym = ctx.pseudonymizer.pseudonym(body.person_id)
    try:
        answer = await ctx.alerts_http.post(
            "/v1/pseudonyms/status", json={"pseudonym": pseudonym},
            headers={"Authorization": request.headers.get("authorization", "")})
    except httpx.HTTPError as exc:
        log.warning("status lookup: the alerts API did not answer: %r", exc)
        raise ApiError(503, "the alerts service is unavailable; retry later",
                       headers={"Retry-After": "5"}) from exc
    if answer.status_code >= 500:
        raise ApiError(503, "the alerts service could not answer; retry later",
                       headers={"Retry-After": answer.headers.get("Retry-After", "5")})
    # A 4xx of the alerts API (a token revoked a moment ago) is the caller's answer as it is.
    return JSONResponse(status_code=answer.status_code, content=answer.json(),
                        headers={"Cache-Control": "no-store"})
