"""Issuing tokens over HTTP (admin only)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends

from schemas.common import ShortText, WireModel
from schemas.errors import Problem
from schemas.registry import Role
from services.core.http.auth import Principal, requires
from services.core.http.errors import ApiError
from services.core.tokens import issue_token
from services.ingest.context import IngestContext, context
from services.ingest.publisher import PublishUnavailableError

router = APIRouter(prefix="/v1", tags=["tokens"])


class TokenCreate(WireModel):
    role: Literal["admin", "authority", "dashboard"]
    label: ShortText | None = None


class TokenCreated(WireModel):
    role: str
    label: str | None
    token: str


@router.post(
    "/tokens",
    status_code=201,
    response_model=TokenCreated,
    responses={
        401: {"model": Problem},
        403: {"model": Problem},
        422: {"model": Problem},
        429: {"model": Problem},
        503: {"model": Problem},
    },
    summary="Issue a token for a role (admin); shown only in this answer",
)
async def create_token(
    body: TokenCreate,
    ctx: Annotated[IngestContext, Depends(context)],
    _: Annotated[Principal, Depends(requires(Role.ADMIN))],
) -> TokenCreated:
    token, record = issue_token(Role(body.role), body.label)
    try:
        await ctx.publisher.publish_registry(record)
    except PublishUnavailableError as exc:
        raise ApiError(
            503, "the registry is unavailable; retry later", headers={"Retry-After": "5"}
        ) from exc
    ctx.registry.view.put(record)
    return TokenCreated(role=body.role, label=body.label, token=token)
