"""Venue exposure events from health authorities (rule 11): declare, correct, withdraw."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from schemas.common import Identifier, utc_now
from schemas.exposure_events import (
    ExposureAccepted,
    ExposureDeclared,
    ExposureEventIn,
    ExposureWithdrawn,
)
from schemas.registry import Role
from services.core.http.auth import Principal, requires
from services.core.http.errors import ApiError, refusals
from services.ingest.context import IngestContext, context
from services.ingest.publisher import PublishUnavailableError

router = APIRouter(prefix="/v1", tags=["exposure events"])


@router.post(
    "/exposure-events",
    status_code=202,
    response_model=ExposureAccepted,
    responses=refusals(401, 403, 404, 409, 422, 429, 503),
    summary="Declare a venue exposure event, or correct one by posting its event_id again; "
            "everyone present in the window is alerted (kind `venue`) on the alerts topic",
)
async def declare_exposure_event(
    body: ExposureEventIn,
    ctx: Annotated[IngestContext, Depends(context)],
    who: Annotated[Principal, Depends(requires(Role.AUTHORITY))],
) -> ExposureAccepted:
    if ctx.registry.view.venue(body.venue_id) is None:
        raise ApiError(404, f"no venue {body.venue_id!r} is registered")
    if body.start > utc_now() + ctx.admission.max_clock_skew:
        raise ApiError(422, "start is in the future: declare an event once it has begun")
    # Event alerts are stored by event id where case alerts are by case id: one id space.
    if await _known(ctx, body.event_id, cases=True):
        raise ApiError(409, f"{body.event_id!r} is the id of a case; choose another event_id",
                       error="conflict")
    declared = ExposureDeclared(**body.model_dump(), declared_at=utc_now(),
                                declared_by=who.token_id)
    await _publish(ctx, body.event_id, declared)
    ctx.case_log.reported.add_event(body.event_id)
    return ExposureAccepted(event_id=body.event_id, status="declared")


@router.delete(
    "/exposure-events/{event_id}",
    status_code=202,
    response_model=ExposureAccepted,
    responses=refusals(401, 403, 404, 422, 429, 503),
    summary="Withdraw an exposure event and every alert it made; 404 if never declared",
)
async def withdraw_exposure_event(
    event_id: Identifier,
    ctx: Annotated[IngestContext, Depends(context)],
    who: Annotated[Principal, Depends(requires(Role.AUTHORITY))],
) -> ExposureAccepted:
    if not await _known(ctx, event_id, cases=False):
        raise ApiError(404, f"no exposure event {event_id!r} was ever declared")
    await _publish(ctx, event_id, ExposureWithdrawn(event_id=event_id, withdrawn_at=utc_now(),
                                                    withdrawn_by=who.token_id))
    return ExposureAccepted(event_id=event_id, status="withdrawn")


async def _known(ctx: IngestContext, some_id: str, *, cases: bool) -> bool:
    try:
        if cases:
            return await ctx.case_log.was_reported(some_id)
        return await ctx.case_log.was_declared(some_id)
    except TimeoutError as exc:
        raise ApiError(503, "the case log is unavailable; retry later",
                       headers={"Retry-After": "5"}) from exc


async def _publish(ctx: IngestContext, event_id: str,
                   event: ExposureDeclared | ExposureWithdrawn) -> None:
    try:
        await ctx.publisher.publish_on_cases(event_id, event.model_dump_json().encode())
    except PublishUnavailableError as exc:
        raise ApiError(503, "the case log is unavailable; retry later",
                       headers={"Retry-After": "5"}) from exc
