"""The live alert stream: Server-Sent Events of the ``alerts`` topic."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from services.alerts.api.context import STREAM_READERS, AlertsContext, context
from services.alerts.api.stream import Start, parse_event_id
from services.core.http.auth import Authenticator, Principal, requires
from services.core.http.errors import refusals

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])

_DESCRIPTION = """\
One `event: alert` per message of the `alerts` topic (the JSON of `Alert`, `op` is `upsert` or
`retract`), in topic order per partition. The first event, `ready`, tells where the stream
starts. Each event's `id` holds the next offset of every partition (`0:12,1:40,2:3,3:7`):
reconnect with it as `Last-Event-ID` (browsers do this by themselves) to resume with nothing
repeated or skipped. Without it the stream starts at the end (new alerts only), or at the
beginning with `?from=beginning`. Nothing older than the retention horizon
(`TRUYVET_RETENTION_DAYS`) is replayed, whatever the start or `Last-Event-ID`. A comment line is
sent every 15 s while idle. A token holds at most 4 streams on one server (429 beyond). For
the `notifier` role only: alerts carry stable pseudonyms.
"""


@router.get(
    "/stream",
    response_class=StreamingResponse,
    summary="Alerts as they are published (Server-Sent Events)",
    description=_DESCRIPTION,
    responses={**refusals(401, 403, 422, 429, 503),
               200: {"content": {"text/event-stream": {}}}},
)
async def alerts_stream(
    ctx: Annotated[AlertsContext, Depends(context)],
    who: Annotated[Principal, Depends(requires(*STREAM_READERS))],
    request: Request,
    start: Annotated[Literal["beginning", "end"], Query(alias="from")] = "end",
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> StreamingResponse:
    resume: Start = parse_event_id(last_event_id) if last_event_id else start
    feed = await ctx.streams.open(resume, holder=who.token_id or who.role.value)
    authenticator: Authenticator = request.app.state.auth
    feed.allowed = partial(authenticator.still_valid, who)
    return StreamingResponse(
        feed.events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        # Closes the consumer even if the client left before the first byte was sent.
        background=BackgroundTask(feed.close),
    )
