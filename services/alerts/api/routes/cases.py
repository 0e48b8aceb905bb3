"""A case's current alerts (paged), one alert in full, and its transmission chain (paged)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from schemas.common import Identifier, UtcDateTime
from services.alerts.api.context import PERSON_READERS, AlertsContext, context
from services.alerts.api.models import CaseAlerts, CaseChain
from services.alerts.domain import alert_id_for, transmission_chain
from services.alerts.queries import (
    EXPOSURES_SHOWN,
    LAST_STORABLE_S,
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    AlertFilter,
    AlertRecord,
    BadCursorError,
    CaseRecord,
    PageKey,
    decode_cursor,
    encode_cursor,
)
from services.core.http.auth import Principal, requires
from services.core.http.errors import ApiError, refusals

router = APIRouter(prefix="/v1/cases", tags=["cases"])

_REFUSALS = refusals(401, 403, 404, 410, 422, 429, 503)

Reader = Annotated[Principal, Depends(requires(*PERSON_READERS))]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Most items in one page.")]
Cursor = Annotated[str | None, Query(
    max_length=200, description="The `next_cursor` of the previous page; omit for the first.")]


@router.get("/{case_id}/alerts", response_model=CaseAlerts, responses=_REFUSALS,
            summary="The case's current alerts (rule 8), a page at a time: F1 first, earliest "
                    "exposure first",
            description=f"Each alert carries its first {EXPOSURES_SHOWN} exposures and "
                        "`exposure_count`; `GET /v1/cases/{case_id}/alerts/{alert_id}` has "
                        "them all. Follow `next_cursor` (null on the last page) for the rest; "
                        "a cursor keeps its place whatever the worker changes meanwhile. "
                        "`sort=risk` lists the riskiest first (`risk_score`, highest first), "
                        "who to call first.")
async def case_alerts(
    case_id: Identifier,
    ctx: Annotated[AlertsContext, Depends(context)],
    who: Reader,
    degree: Annotated[int | None, Query(ge=1, le=6, description="Only this degree.")] = None,
    exposed_since: Annotated[UtcDateTime | None, Query(
        description="Only alerts exposed at or after this time.")] = None,
    exposed_until: Annotated[UtcDateTime | None, Query(
        description="Only alerts exposed before this time.")] = None,
    limit: Limit = PAGE_SIZE,
    cursor: Cursor = None,
    sort: Annotated[Literal["degree", "risk"], Query(
        description="`degree` (F1 first, earliest exposure first) or `risk` (highest "
                    "risk_score first).")] = "degree",
) -> CaseAlerts:
    which = AlertFilter(
        degree_min=degree or 1,
        degree_max=degree or 6,
        since=max(0, int(exposed_since.timestamp())) if exposed_since else 0,
        until=min(LAST_STORABLE_S, int(exposed_until.timestamp())) if exposed_until
        else LAST_STORABLE_S,
    )
    after = _page_key(cursor)
    by_risk = sort == "risk"
    if after is not None and (after.risk is not None) != by_risk:
        raise ApiError(422, f"this cursor is not of a page in {sort} order", error="invalid_cursor")
    case = await known_case(ctx, case_id)
    page = await ctx.queries.alert_page(case_id, which, after, limit, by_risk)
    await ctx.audit.record(who, "case_alerts", case_id=case_id, people=len(page.alerts))
    view = ctx.view(case_id)
    return CaseAlerts(case_id=case.case_id, status=case.status,
                      alerts=[view.alert(a) for a in page.alerts],
                      next_cursor=encode_cursor(page.next_key) if page.next_key else None)


@router.get("/{case_id}/alerts/{alert_id}", response_model=AlertRecord, responses=_REFUSALS,
            summary="One current alert of the case with every exposure")
async def case_alert(
    case_id: Identifier,
    alert_id: Annotated[str, Path(pattern=r"^[0-9A-Za-z._-]{1,64}$")],
    ctx: Annotated[AlertsContext, Depends(context)],
    who: Reader,
) -> AlertRecord:
    await known_case(ctx, case_id)
    alert = await ctx.queries.alert(case_id, alert_id)
    if alert is None:
        raise ApiError(404, f"case {case_id!r} has no current alert {alert_id!r}")
    await ctx.audit.record(who, "case_alert", case_id=case_id, people=1, subject=alert_id)
    return ctx.view(case_id).alert(alert)


@router.get("/{case_id}/chain", response_model=CaseChain, responses=_REFUSALS,
            summary="The transmission tree F0 → F1 → F2 … of the case's current alerts, a page "
                    "of F1 branches at a time",
            description="The root is F0; its children are one page of F1 (earliest exposure "
                        "first), each with everyone reached through them, down to "
                        "`max_degree`. `people` and `branches` count the whole tree. Follow "
                        "`next_cursor` (null on the last page) for the other F1 branches.")
async def case_chain(
    case_id: Identifier,
    ctx: Annotated[AlertsContext, Depends(context)],
    who: Reader,
    max_degree: Annotated[int, Query(ge=1, le=6, description="The deepest degree shown.")] = 6,
    limit: Limit = PAGE_SIZE,
    cursor: Cursor = None,
) -> CaseChain:
    after = _page_key(cursor)
    case = await known_case(ctx, case_id)
    alerts = await ctx.queries.chain_alerts(case_id)
    root = transmission_chain(case.case_id, case.person_id, alerts)
    reported_from = await ctx.queries.follow_up_reported(case_id)
    reported = {a.person: reported_from[a.alert_id] for a in alerts
                if a.alert_id in reported_from}
    chain = CaseChain.page(case, root, after=after, limit=limit, max_degree=max_degree,
                           key_of=lambda node: PageKey(
                               1, node.exposed_at or 0, alert_id_for(case.case_id, node.person)),
                           cursor_of=encode_cursor, view=ctx.view(case_id), reported=reported)
    await ctx.audit.record(who, "case_chain", case_id=case_id, people=chain.chain.size())
    return chain


def _page_key(cursor: str | None) -> PageKey | None:
    try:
        return decode_cursor(cursor) if cursor else None
    except BadCursorError as exc:
        raise ApiError(422, str(exc), error="invalid_cursor") from exc


async def known_case(ctx: AlertsContext, case_id: str) -> CaseRecord:
    """The case, if it is known and not withdrawn: 404 if unknown, 410 once withdrawn (its
    alerts, chain and graphs stop being readable)."""
    case = await ctx.queries.case(case_id)
    if case is None:
        raise ApiError(404, f"no case {case_id!r} is known (yet): a case reported a moment ago "
                            "appears once the alerts worker has processed it")
    if case.status == "withdrawn":
        raise ApiError(410, f"case {case_id!r} was withdrawn; its alerts are retracted and no "
                            "longer readable", error="withdrawn")
    return case
