"""A person's status across open cases, asked by ingest once it has made the pseudonym.

The authority sends the raw identifier to ingest (``POST /v1/people/status``): only ingest
may see one and only it holds the pseudonym key. Ingest normalises and pseudonymises it with
the function its scans go through, and asks this endpoint with the pseudonym and the caller's
own token, so the read is the authority's, authorised and audited here like every other.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends

from schemas.people import CaseInvolvement, PersonStatus, PseudonymStatusQuery
from services.alerts.api.context import AlertsContext, context
from services.alerts.api.routes.cases import Reader
from services.alerts.domain.follow_up import FollowUp, Involvement, person_status
from services.core.http.errors import refusals

router = APIRouter(prefix="/v1", tags=["people"])


def _utc(seconds: int | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None


@router.post("/pseudonyms/status", response_model=PersonStatus,
             responses=refusals(401, 403, 422, 429, 503),
             summary="A pseudonym's status across open cases (ingest's POST /v1/people/status "
                     "asks this with the pseudonym it made of the identifier)")
async def pseudonym_status(body: PseudonymStatusQuery,
                           ctx: Annotated[AlertsContext, Depends(context)],
                           who: Reader) -> PersonStatus:
    s = ctx.settings
    open_since = datetime.now(UTC) - s.retention
    as_f0 = await ctx.queries.person_cases(body.pseudonym, open_since)
    alerts = [(a, False) for a in await ctx.queries.person_alerts(body.pseudonym, open_since)]
    # Present at an open exposure event: a venue exposure of its own (rule 11).
    alerts += [(a, True)
               for a in await ctx.queries.person_event_alerts(body.pseudonym, open_since)]
    states: dict[str, dict[str, str]] = defaultdict(dict)
    for case_id in {a.case_id for a, _ in alerts}:
        states[case_id] = await ctx.queries.follow_up_states(case_id)
    involvements = [Involvement(case_id, 0, None, None, None) for case_id in as_f0]
    alert_of: dict[tuple[str, int], str] = {}
    for a, venue in alerts:
        state = states[a.case_id].get(a.alert_id, "new")
        follow = FollowUp(a.exposed_at, a.created_at, state, s.follow_up_days,
                          s.reach_within_h * 3600)
        involvements.append(Involvement(a.case_id, a.degree, a.exposed_at, follow.until, state,
                                        venue=venue))
        alert_of[(a.case_id, a.degree)] = a.alert_id
    status = person_status(involvements)
    await ctx.audit.record(who, "person_status", case_id=None, people=1,
                           subject=f"{status.status} in {len(status.involvements)} case(s)")
    return PersonStatus(
        status=status.status, colour=status.colour,
        earliest_exposure=_utc(status.earliest_exposure),
        follow_up_until=_utc(status.follow_up_until),
        cases=[CaseInvolvement(case_id=i.case_id, role=i.role,
                               alert_id=alert_of.get((i.case_id, i.degree)),
                               exposed_at=_utc(i.exposed_at),
                               follow_up_until=_utc(i.follow_up_until),
                               follow_up_state=i.follow_up_state)
               for i in status.involvements])
