"""A case's current alerts and its transmission chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from schemas.common import Identifier
from services.alerts.api.context import READERS, AlertsContext, context
from services.alerts.api.models import CaseAlerts, CaseChain
from services.alerts.queries import CaseRecord, chain_of
from services.core.http.auth import Principal, requires
from services.core.http.errors import ApiError, refusals

router = APIRouter(prefix="/v1/cases", tags=["cases"])

_REFUSALS = refusals(401, 403, 404, 422, 429, 503)

Reader = Annotated[Principal, Depends(requires(*READERS))]


@router.get("/{case_id}/alerts", response_model=CaseAlerts, responses=_REFUSALS,
            summary="The case's current alerts (rule 8), F1 first, earliest exposure first")
async def case_alerts(
    case_id: Identifier, ctx: Annotated[AlertsContext, Depends(context)], _: Reader
) -> CaseAlerts:
    case = await _known_case(ctx, case_id)
    return CaseAlerts.of(case, await ctx.queries.current_alerts(case_id))


@router.get("/{case_id}/chain", response_model=CaseChain, responses=_REFUSALS,
            summary="The transmission tree F0 → F1 → F2 … of the case's current alerts")
async def case_chain(
    case_id: Identifier, ctx: Annotated[AlertsContext, Depends(context)], _: Reader
) -> CaseChain:
    case = await _known_case(ctx, case_id)
    return CaseChain.of(case, chain_of(case, await ctx.queries.current_alerts(case_id)))


async def _known_case(ctx: AlertsContext, case_id: str) -> CaseRecord:
    case = await ctx.queries.case(case_id)
    if case is None:
        raise ApiError(404, f"no case {case_id!r} is known (yet): a case reported a moment ago "
                            "appears once the alerts worker has processed it")
    return case
