"""``POST /v1/scans``: a venue pushes one scan, a JSON array, or NDJSON."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from schemas.common import utc_now
from schemas.errors import Problem
from schemas.registry import Role
from schemas.scans import ScanBatch, ScanIn, ScanReceipt
from services.core.http.body import capped_chunks
from services.core.http.errors import ApiError
from services.core.metrics import SCANS_ACCEPTED, SCANS_REFUSED
from services.ingest.admission import BodyError, ForeignVenueError, ScanItemReader
from services.ingest.context import IngestContext, context
from services.ingest.publisher import PublishUnavailableError

router = APIRouter(prefix="/v1", tags=["scans"])

MAX_SCAN_BODY_BYTES = 16 * 1024 * 1024

_SCAN_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/ScanIn"},
                        {"type": "array", "items": {"$ref": "#/components/schemas/ScanIn"}},
                    ]
                }
            },
            "application/x-ndjson": {"schema": {"type": "string"}},
        },
    }
}


@router.post(
    "/scans",
    status_code=202,
    response_model=ScanReceipt,
    openapi_extra=_SCAN_BODY_DOC,
    responses={
        401: {"model": Problem},
        403: {"model": Problem},
        408: {"model": Problem},
        413: {"model": Problem},
        422: {"model": ScanReceipt, "description": "no scan was accepted"},
        429: {"model": Problem},
        503: {"model": Problem},
    },
    summary="Push scans of the calling venue (one, a JSON array, or NDJSON)",
)
async def post_scans(
    request: Request, ctx: Annotated[IngestContext, Depends(context)]
) -> JSONResponse:
    """202 only after Kafka acknowledged every accepted scan; refused scans are listed by index."""
    principal = await ctx.auth.require(request, Role.VENUE)
    assert principal.venue is not None
    try:
        # Parsed while it arrives: a body over the scan cap is refused before it is all read.
        reader = ScanItemReader(request.headers.get("content-type", ""))
        async for chunk in capped_chunks(request, MAX_SCAN_BODY_BYTES,
                                         ctx.settings.http_body_timeout_s):
            reader.feed(chunk)
        items = reader.finish()
        outcome = ctx.admission.admit(items, principal.venue.venue_id, utc_now())
    except BodyError as exc:
        raise ApiError(422, str(exc), error="invalid_body") from exc
    except ForeignVenueError as exc:
        raise ApiError(403, str(exc)) from exc
    received_at = utc_now()
    venue_id = principal.venue.venue_id
    event_ids = [scan.event_id for scan in outcome.accepted]
    replayed = ctx.recent.replays(venue_id, event_ids)
    if outcome.accepted:
        batch = ScanBatch.model_construct(
            venue_id=principal.venue.venue_id, scans=outcome.accepted, ingested_at=received_at
        )
        sealed = ctx.sealer.entries(outcome.identities, received_at)
        try:
            # The directory first: a person whose scans are in is one the authority can reach.
            await ctx.publisher.publish_directory(sealed)
            ctx.sealer.remember(sealed, received_at)
            await ctx.publisher.publish_scans(batch)
        except PublishUnavailableError as exc:
            raise ApiError(
                503,
                "the scan log is unavailable; nothing was accepted, retry later",
                headers={"Retry-After": "5"},
            ) from exc
        ctx.recent.remember(venue_id, event_ids)
    SCANS_ACCEPTED.inc(len(outcome.accepted))
    SCANS_REFUSED.inc(len(outcome.refused))
    receipt = ScanReceipt(
        accepted=len(outcome.accepted) - replayed,
        replayed=replayed,
        duplicates_in_request=outcome.duplicates_in_request,
        refused=outcome.refused,
        received_at=received_at,
    )
    status = 202 if outcome.accepted else 422
    return JSONResponse(status_code=status, content=receipt.model_dump(mode="json"))


__all__ = ["ScanIn", "router"]
