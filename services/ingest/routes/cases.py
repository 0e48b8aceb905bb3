"""Confirmed cases from health authorities, and their withdrawal."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import Field

from schemas.cases import CaseAccepted, CaseIn, CaseReported, CaseWithdrawn
from schemas.common import Identifier, ShortText, utc_now
from schemas.registry import Role
from services.core.http.auth import Principal, requires
from services.core.http.errors import ApiError, refusals
from services.ingest.context import IngestContext, context
from services.ingest.publisher import PublishUnavailableError

router = APIRouter(prefix="/v1", tags=["cases"])

_REFUSALS = refusals(401, 403, 422, 429, 503)


@router.post(
    "/cases",
    status_code=202,
    response_model=CaseAccepted,
    responses=_REFUSALS,
    summary="Report a confirmed case (F0); alerts follow on the alerts topic",
)
async def report_case(
    body: CaseIn,
    ctx: Annotated[IngestContext, Depends(context)],
    who: Annotated[Principal, Depends(requires(Role.AUTHORITY))],
) -> CaseAccepted:
    if body.reported_at > utc_now() + ctx.admission.max_clock_skew:
        raise ApiError(422, "reported_at is in the future")
    normalised, pseudonym = ctx.pseudonymizer.identify(body.person_id)
    now = utc_now()
    sealed = ctx.sealer.entries({pseudonym: normalised}, now)
    event = CaseReported(
        case_id=body.case_id,
        person_id=pseudonym,
        onset_at=body.onset_at,
        sampled_at=body.sampled_at,
        reported_at=body.reported_at,
        isolated_at=body.isolated_at,
        reported_by=who.token_id,
    )
    try:
        await ctx.publisher.publish_directory(sealed)
    except PublishUnavailableError as exc:
        raise ApiError(503, "the contact directory is unavailable; retry later",
                       headers={"Retry-After": "5"}) from exc
    ctx.sealer.remember(sealed, now)
    await _publish(ctx, event)
    ctx.case_log.reported.add(body.case_id)  # the follower will see it too; this replica now
    return CaseAccepted(case_id=body.case_id, status="reported")


@router.delete(
    "/cases/{case_id}",
    status_code=202,
    response_model=CaseAccepted,
    responses=refusals(401, 403, 404, 422, 429, 503),
    summary="Withdraw a mistaken case and all its alerts; 404 if it was never reported",
)
async def withdraw_case(
    case_id: Identifier,
    ctx: Annotated[IngestContext, Depends(context)],
    who: Annotated[Principal, Depends(requires(Role.AUTHORITY))],
    reason: Annotated[ShortText | None, Field(description="why")] = None,
) -> CaseAccepted:
    try:
        reported = await ctx.case_log.was_reported(case_id)
    except TimeoutError as exc:
        raise ApiError(
            503, "the case log is unavailable; retry later", headers={"Retry-After": "5"}
        ) from exc
    if not reported:
        # Withdrawing again a case already withdrawn is 202 like the first time: a client
        # that lost the first answer retries safely.
        raise ApiError(404, f"no case {case_id!r} was ever reported")
    await _publish(ctx, CaseWithdrawn(case_id=case_id, withdrawn_at=utc_now(), reason=reason,
                                       withdrawn_by=who.token_id))
    return CaseAccepted(case_id=case_id, status="withdrawn")


async def _publish(ctx: IngestContext, event: CaseReported | CaseWithdrawn) -> None:
    try:
        await ctx.publisher.publish_case(event)
    except PublishUnavailableError as exc:
        raise ApiError(
            503, "the case log is unavailable; retry later", headers={"Retry-After": "5"}
        ) from exc
