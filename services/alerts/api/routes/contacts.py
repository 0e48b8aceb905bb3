"""A case's contact list for the call centre (CSV and JSON, identifiers sealed), and the
follow-up of each contact: its state changed by the authority, every change kept."""

from __future__ import annotations

import csv
import io
import time
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from schemas.cases import CaseReported
from schemas.common import Identifier, utc_now
from schemas.people import FollowUpChangeIn
from services.alerts.api.context import AlertsContext, context
from services.alerts.api.models import ContactList, ContactListRow, FollowUpPublic
from services.alerts.api.routes.cases import Reader, known_case
from services.alerts.domain.contact_list import COLUMNS, ContactLine, ContactRow, contact_rows
from services.alerts.domain.follow_up import (
    DAY_S,
    FollowUp,
    InvalidFollowUpError,
    check_change,
)
from services.alerts.queries import FollowUpChange
from services.core.http.errors import ApiError, refusals

router = APIRouter(prefix="/v1/cases", tags=["follow-up"])

_REFUSALS = refusals(401, 403, 404, 410, 422, 429, 503)
ListName = Literal["overdue", "due_today", "ended"]
Only = Annotated[ListName | None, Query(
    alias="list", description="Only this follow-up list: `overdue` (not reached within "
    "TRUYVET_REACH_WITHIN_H of the alert), `due_today` (follow-up ends today), `ended`.")]
AlertId = Annotated[str, Path(pattern=r"^[0-9A-Za-z._-]{1,64}$")]


async def _rows(ctx: AlertsContext, case_id: str, only: str | None) -> list[ContactRow]:
    await known_case(ctx, case_id)
    alerts = await ctx.queries.contact_alerts(case_id)
    sealed = await ctx.queries.sealed_of({a.person_id for a in alerts})
    states = await ctx.queries.follow_up_states(case_id)
    view = ctx.view(case_id)
    lines = [ContactLine(a.alert_id, a.person_id, a.degree, a.exposed_at, a.venue_ids,
                         a.created_at, a.risk_level) for a in alerts]
    s = ctx.settings
    return contact_rows(case_id, lines, {p: (x.key_id, x.sealed) for p, x in sealed.items()},
                        states, follow_up_days=s.follow_up_days,
                        reach_within_h=s.reach_within_h, now=int(time.time()),
                        shown_as=view.person, only=only)


def _iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


@router.get("/{case_id}/contacts.csv", responses={**_REFUSALS, 200: {"content": {"text/csv": {}}}},
            response_class=Response,
            summary="The case's contact list as CSV: one row per current alert, the identifier "
                    "sealed to the authority's key (open it with `truyvet contacts open`)")
async def contacts_csv(case_id: Identifier, ctx: Annotated[AlertsContext, Depends(context)],
                       who: Reader, only: Only = None) -> Response:
    rows = await _rows(ctx, case_id, only)
    await ctx.audit.record(who, "case_contacts", case_id=case_id, people=len(rows),
                           subject=f"csv {only or 'all'}")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow([r.case_id, r.alert_id, r.person, r.degree, _iso(r.exposed_at),
                         " ".join(r.venue_ids), r.risk_level, r.follow_up_state,
                         _iso(r.follow_up_until), r.key_id, r.sealed])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{case_id}-contacts.csv"',
        "Cache-Control": "no-store"})


@router.get("/{case_id}/contacts.json", response_model=ContactList, responses=_REFUSALS,
            summary="The case's contact list as JSON (the same rows as contacts.csv)")
async def contacts_json(case_id: Identifier, ctx: Annotated[AlertsContext, Depends(context)],
                        who: Reader, only: Only = None) -> ContactList:
    rows = await _rows(ctx, case_id, only)
    await ctx.audit.record(who, "case_contacts", case_id=case_id, people=len(rows),
                           subject=f"json {only or 'all'}")
    return ContactList(case_id=case_id, follow_up_list=only,
                       contacts=[ContactListRow.of(r) for r in rows])


@router.patch("/{case_id}/alerts/{alert_id}", response_model=FollowUpPublic,
              responses=refusals(401, 403, 404, 409, 410, 422, 429, 503),
              summary="Record the follow-up of a contact (every change kept); with "
                      "`tested_positive` and `report_case`, report the contact as a new case")
async def change_follow_up(case_id: Identifier, alert_id: AlertId, body: FollowUpChangeIn,
                           ctx: Annotated[AlertsContext, Depends(context)],
                           who: Reader) -> FollowUpPublic:
    try:
        check_change(body.state, body.report_case is not None)
    except InvalidFollowUpError as exc:
        raise ApiError(422, str(exc), error="invalid_follow_up") from exc
    await known_case(ctx, case_id)
    alert = await ctx.queries.alert(case_id, alert_id)
    if alert is None:
        raise ApiError(404, f"case {case_id!r} has no current alert {alert_id!r}")
    report = body.report_case
    if report is not None and await ctx.queries.case(report.case_id) is not None:
        raise ApiError(409, f"case {report.case_id!r} exists already; choose another id",
                       error="case_exists")
    now = utc_now()
    await ctx.audit.record(who, "follow_up", case_id=case_id, people=1,
                           subject=f"{alert_id} {body.state}")
    if report is not None:
        start = report.onset_at or report.sampled_at
        assert start is not None
        event = CaseReported(case_id=report.case_id, person_id=alert.person_id,
                             onset_at=report.onset_at, sampled_at=report.sampled_at,
                             reported_at=max(now, start), isolated_at=report.isolated_at,
                             reported_by=who.token_id, from_case_id=case_id)
        await ctx.audit.publish_case(event)
    change = FollowUpChange(now, body.state, body.note or "", who.token_id or who.role.value,
                            report.case_id if report else "")
    await ctx.queries.record_follow_up(case_id, alert_id, change, time.time_ns())
    return await _follow_up(ctx, case_id, alert_id, int(alert.exposed_at.timestamp()),
                            int(alert.created_at.timestamp()))


@router.get("/{case_id}/alerts/{alert_id}/follow-up", response_model=FollowUpPublic,
            responses=_REFUSALS, summary="A contact's follow-up state and every change recorded")
async def follow_up_history(case_id: Identifier, alert_id: AlertId,
                            ctx: Annotated[AlertsContext, Depends(context)],
                            who: Reader) -> FollowUpPublic:
    await known_case(ctx, case_id)
    alert = await ctx.queries.alert(case_id, alert_id)
    history = await ctx.queries.follow_up_history(case_id, alert_id)
    if alert is None and not history:
        raise ApiError(404, f"case {case_id!r} has no alert {alert_id!r} and no follow-up of it")
    await ctx.audit.record(who, "follow_up_history", case_id=case_id, people=1,
                           subject=alert_id)
    exposed = int(alert.exposed_at.timestamp()) if alert else None
    created = int(alert.created_at.timestamp()) if alert else None
    return FollowUpPublic.of(case_id, alert_id, history, exposed, created,
                             ctx.settings.follow_up_days, ctx.settings.reach_within_h,
                             current=alert is not None)


async def _follow_up(ctx: AlertsContext, case_id: str, alert_id: str, exposed: int,
                     created: int) -> FollowUpPublic:
    history = await ctx.queries.follow_up_history(case_id, alert_id)
    return FollowUpPublic.of(case_id, alert_id, history, exposed, created,
                             ctx.settings.follow_up_days, ctx.settings.reach_within_h,
                             current=True)


__all__ = ["DAY_S", "FollowUp", "router"]
