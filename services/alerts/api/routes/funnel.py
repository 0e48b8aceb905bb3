"""The follow-up funnel of the open cases: how many contacts are new, reached, tested,
isolating, released — counts only, for every aggregate reader (the dashboard role included)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from services.alerts.api.context import AGGREGATE_READERS, AlertsContext, context
from services.alerts.api.routes.figures import suppressed
from services.alerts.domain.follow_up import FOLLOW_UP_STATES
from services.core.http.auth import Principal, requires
from services.core.http.errors import refusals

router = APIRouter(prefix="/v1", tags=["figures"])


class FunnelPublic(BaseModel):
    model_config = ConfigDict(frozen=True)

    since: datetime = Field(description="Alerts of cases open since then are counted.")
    states: dict[str, int | None] = Field(
        description="Current alerts by follow-up state, every state present; null: fewer "
        "than TRUYVET_MIN_GROUP (but not none), suppressed.")


@router.get("/follow-up/funnel", response_model=FunnelPublic,
            responses=refusals(401, 403, 429, 503),
            summary="The follow-up funnel of the open cases' contacts (counts only)")
async def follow_up_funnel(ctx: Annotated[AlertsContext, Depends(context)],
                           who: Annotated[Principal, Depends(requires(*AGGREGATE_READERS))],
                           ) -> FunnelPublic:
    since = datetime.now(UTC) - ctx.settings.retention
    counts = await ctx.queries.follow_up_funnel(since)
    return FunnelPublic(since=since, states={
        state: suppressed(counts.get(state, 0), ctx.settings.min_group)
        for state in FOLLOW_UP_STATES})
