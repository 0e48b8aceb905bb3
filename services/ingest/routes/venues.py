"""Venue registration and QR codes."""

from __future__ import annotations

import io
import uuid
from typing import Annotated

import segno
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import Field

from schemas.common import Identifier, WireModel, utc_now
from schemas.registry import Role, VenueRecord
from schemas.venues import VenueCreate, VenueCreated, VenuePublic
from services.core.config import Settings
from services.core.http.auth import Principal, requires
from services.core.http.errors import ApiError, refusals
from services.core.secrets import new_secret, sha256_hex
from services.ingest.context import IngestContext, context
from services.ingest.poster import poster_svg
from services.ingest.publisher import PublishUnavailableError

router = APIRouter(prefix="/v1", tags=["venues"])

_REFUSALS = refusals(401, 403, 404, 409, 422, 429, 503)


def new_venue(body: VenueCreate, settings: Settings) -> tuple[VenuePublic, str]:
    """The venue a registration describes, with defaults filled in, and its fresh API key."""
    venue = VenuePublic(
        venue_id=body.venue_id or f"v-{uuid.uuid4().hex[:16]}",
        name=body.name,
        kind=body.kind,
        address=body.address,
        default_dwell_s=body.default_dwell_s or settings.default_dwell_s,
        max_dwell_s=body.max_dwell_s or settings.max_dwell_s,
        min_overlap_s=body.min_overlap_s or settings.min_overlap_s,
        cluster_rule=body.cluster_rule,
        created_at=utc_now(),
    )
    return venue, new_secret("tvk")


@router.post(
    "/venues",
    status_code=201,
    response_model=VenueCreated,
    responses=_REFUSALS,
    summary="Register a venue (admin); the API key is shown only in this answer",
)
async def create_venue(
    body: VenueCreate,
    ctx: Annotated[IngestContext, Depends(context)],
    _: Annotated[Principal, Depends(requires(Role.ADMIN))],
) -> VenueCreated:
    if body.venue_id is not None and ctx.registry.view.venue(body.venue_id) is not None:
        raise ApiError(409, f"venue {body.venue_id!r} already exists")
    try:
        venue, api_key = new_venue(body, ctx.settings)
    except ValueError as exc:
        raise ApiError(422, str(exc)) from exc
    record = VenueRecord(venue=venue, key_sha256=sha256_hex(api_key))
    try:
        await ctx.publisher.publish_registry(record)
    except PublishUnavailableError as exc:
        raise ApiError(
            503, "the registry is unavailable; retry later", headers={"Retry-After": "5"}
        ) from exc
    ctx.registry.view.put(record)
    return VenueCreated(
        **venue.model_dump(), api_key=api_key, qr_payload=ctx.qr_signer.payload(venue.venue_id)
    )


async def _readable_venue(request: Request, ctx: IngestContext, venue_id: str) -> VenuePublic:
    principal = await ctx.auth.require(request, Role.ADMIN, Role.DASHBOARD, Role.VENUE)
    if principal.role == Role.VENUE and (
        principal.venue is None or principal.venue.venue_id != venue_id
    ):
        raise ApiError(403, "a venue key reads only its own venue")
    venue = ctx.registry.view.venue(venue_id)
    if venue is None:
        raise ApiError(404, f"no venue {venue_id!r}")
    return venue


@router.get("/venues/{venue_id}", response_model=VenuePublic, responses=_REFUSALS)
async def get_venue(
    venue_id: Identifier, request: Request, ctx: Annotated[IngestContext, Depends(context)]
) -> VenuePublic:
    return await _readable_venue(request, ctx, venue_id)


@router.get(
    "/venues/{venue_id}/qr.svg",
    response_class=Response,
    responses=_REFUSALS,
    summary="The venue's door QR code, SVG",
)
async def venue_qr_svg(
    venue_id: Identifier, request: Request, ctx: Annotated[IngestContext, Depends(context)]
) -> Response:
    venue = await _readable_venue(request, ctx, venue_id)
    out = io.BytesIO()
    segno.make(ctx.qr_signer.payload(venue.venue_id), error="m").save(
        out, kind="svg", scale=8, border=4, title=venue.name
    )
    return Response(out.getvalue(), media_type="image/svg+xml")


@router.get(
    "/venues/{venue_id}/poster.svg",
    response_class=Response,
    responses={**_REFUSALS, 200: {"content": {"image/svg+xml": {}},
                                  "description": "An A4 page, to print for the door"}},
    summary="The venue's door poster: A4, its name, the signed QR code, what to do (vi, en)",
)
async def venue_poster_svg(
    venue_id: Identifier, request: Request, ctx: Annotated[IngestContext, Depends(context)]
) -> Response:
    venue = await _readable_venue(request, ctx, venue_id)
    svg = poster_svg(name=venue.name, venue_id=venue.venue_id, address=venue.address,
                     payload=ctx.qr_signer.payload(venue.venue_id))
    return Response(svg, media_type="image/svg+xml", headers={
        "Content-Disposition": f'inline; filename="{venue.venue_id}-poster.svg"'})


@router.get(
    "/venues/{venue_id}/qr.png",
    response_class=Response,
    responses=_REFUSALS,
    summary="The venue's door QR code, PNG",
)
async def venue_qr_png(
    venue_id: Identifier, request: Request, ctx: Annotated[IngestContext, Depends(context)]
) -> Response:
    venue = await _readable_venue(request, ctx, venue_id)
    out = io.BytesIO()
    segno.make(ctx.qr_signer.payload(venue.venue_id), error="m").save(
        out, kind="png", scale=8, border=4
    )
    return Response(out.getvalue(), media_type="image/png")


class QrCheck(WireModel):
    payload: str = Field(min_length=1, max_length=512)


class QrVenue(WireModel):
    venue_id: Identifier
    name: str


@router.post(
    "/qr/verify",
    response_model=QrVenue,
    responses=_REFUSALS,
    summary="Which venue a scanned QR payload belongs to; 422 if forged",
)
async def verify_qr(body: QrCheck, ctx: Annotated[IngestContext, Depends(context)]) -> QrVenue:
    venue_id = ctx.qr_signer.venue_of(body.payload)
    venue = ctx.registry.view.venue(venue_id) if venue_id else None
    if venue is None:
        raise ApiError(422, "not a valid truyvet venue code", error="invalid_qr")
    return QrVenue(venue_id=venue.venue_id, name=venue.name)
