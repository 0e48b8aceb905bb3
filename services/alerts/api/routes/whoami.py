"""What the caller's token may read here, so a client (the dashboard page) shows only that."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from schemas.registry import Role
from services.alerts.api.context import (
    AGGREGATE_READERS,
    PERSON_READERS,
    STREAM_READERS,
    AlertsContext,
    context,
)
from services.core.http.auth import Principal, requires
from services.core.http.errors import refusals

router = APIRouter(prefix="/v1", tags=["access"])


class Access(BaseModel):
    model_config = ConfigDict(frozen=True)

    role: Role
    aggregates: bool = Field(description="May read /v1/figures (counts only).")
    cases: bool = Field(description="May read a case's alerts, chain and venue graphs.")
    stream: bool = Field(description="May read the live alert stream.")
    timezone: str = Field(description="The zone people read times in (TRUYVET_TIMEZONE), "
                          "e.g. Asia/Ho_Chi_Minh; the API's own times are UTC.")


@router.get("/whoami", response_model=Access, responses=refusals(401, 429),
            summary="The caller's role and what it may read")
async def whoami(who: Annotated[Principal, Depends(requires(*Role))],
                 ctx: Annotated[AlertsContext, Depends(context)]) -> Access:
    return Access(role=who.role, aggregates=who.role in AGGREGATE_READERS,
                  cases=who.role in PERSON_READERS, stream=who.role in STREAM_READERS,
                  timezone=ctx.settings.timezone)
