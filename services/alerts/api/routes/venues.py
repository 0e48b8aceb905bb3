"""The contact graph of a venue on a day, as node-link JSON or GraphML, for an authority
reading a case that touches that venue-day, every person in that case's ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import networkx as nx
from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from schemas.common import Identifier
from services.alerts.api.context import PERSON_READERS, AlertsContext, context
from services.alerts.api.models import (
    CalendarDate,
    GraphFiguresPublic,
    OccupancySlot,
    VenueGraph,
)
from services.alerts.api.routes.cases import known_case
from services.alerts.domain.graph import contact_graph, graph_figures, graphml, node_link
from services.alerts.domain.occupancy import SLOT_S, occupancy
from services.core.http.auth import Principal, requires
from services.core.http.errors import ApiError, refusals

router = APIRouter(prefix="/v1/venues", tags=["graphs"])

_REFUSALS = refusals(401, 403, 404, 410, 422, 429, 503)

Reader = Annotated[Principal, Depends(requires(*PERSON_READERS))]
ForCase = Annotated[Identifier, Query(
    alias="case", description="The case being read: the venue-day must be one it touches (one "
    "of its people was in contact there that day); persons are shown in that case's ids.")]
Day = Annotated[CalendarDate, Query(alias="date", description="The UTC day, YYYY-MM-DD.",
                                    examples=["2026-11-20"])]


@router.get("/{venue_id}/graph", response_model=VenueGraph, responses=_REFUSALS,
            summary="Who was in contact with whom at the venue that day, and for how long")
async def venue_graph(
    venue_id: Identifier, day: Day, case_id: ForCase,
    ctx: Annotated[AlertsContext, Depends(context)], who: Reader,
) -> VenueGraph:
    graph = await _graph(ctx, venue_id, day, case_id, who)
    since = datetime(day.year, day.month, day.day, tzinfo=UTC)
    present = occupancy(await ctx.queries.venue_day_visits(venue_id, day),
                        int(since.timestamp()))
    slots = [OccupancySlot(start=since + timedelta(seconds=i * SLOT_S), people=n)
             for i, n in enumerate(present)]
    return VenueGraph.model_validate(
        {**node_link(graph), "figures": GraphFiguresPublic.of(graph_figures(graph)),
         "occupancy": slots}
    )


@router.get("/{venue_id}/graph.graphml", response_class=Response, summary="The same as GraphML",
            responses={**_REFUSALS, 200: {"content": {"application/graphml+xml": {}}}})
async def venue_graphml(
    venue_id: Identifier, day: Day, case_id: ForCase,
    ctx: Annotated[AlertsContext, Depends(context)], who: Reader,
) -> Response:
    graph = await _graph(ctx, venue_id, day, case_id, who)
    return Response(
        "\n".join(graphml(graph)),
        media_type="application/graphml+xml",
        headers={"Content-Disposition":
                 f'attachment; filename="{venue_id}-{day.isoformat()}.graphml"'},
    )


async def _graph(ctx: AlertsContext, venue_id: str, day: CalendarDate, case_id: str,
                 who: Principal) -> nx.Graph:
    case = await known_case(ctx, case_id)
    if not await ctx.known_venue(venue_id):
        raise ApiError(404, f"no venue {venue_id!r} is registered")
    edges = await ctx.queries.venue_contacts(venue_id, day)
    people = {case.person_id} | {a.person for a in await ctx.queries.chain_alerts(case_id)}
    if not any(e.person_a in people or e.person_b in people for e in edges):
        raise ApiError(403, f"case {case_id!r} does not touch venue {venue_id!r} on "
                            f"{day.isoformat()}: none of its people was in contact there")
    graph = ctx.view(case_id).graph(contact_graph(venue_id, day, edges))
    await ctx.audit.record(who, "venue_graph", case_id=case_id, people=graph.number_of_nodes(),
                           subject=f"{venue_id} {day.isoformat()}")
    return graph
