"""ASGI middleware of both HTTP services: a request id for the logs, and the request metrics.

Each request gets an id (the caller's ``X-Request-ID`` when it is a short token, a new one
otherwise), sent back in ``X-Request-ID`` and put on every log line written while it is served
(:mod:`services.core.logs`). Requests are counted and timed by the *route template*
(``/v1/cases/{case_id}/alerts``), never the path itself, so a metric holds no case or venue id
and a scan of random paths adds one series (``unmatched``), not one per path.
"""

from __future__ import annotations

import re
import time
import uuid
from contextvars import ContextVar

from fastapi import FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.core.metrics import HTTP_DURATION, HTTP_REQUESTS

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
_GIVEN_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def request_id_of(given: str | None) -> str:
    """The caller's id if it is a short token, else a new one.

    Example:
        >>> request_id_of("gate-7.42")
        'gate-7.42'
        >>> len(request_id_of("not an id\\n")), len(request_id_of(None))
        (32, 32)
    """
    if given is not None and _GIVEN_ID.match(given):
        return given
    return uuid.uuid4().hex


class RequestObserver:
    """Request id, count and latency of every HTTP request of ``service``."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"),
                     None)
        request_id = request_id_of(given)
        token = REQUEST_ID.set(request_id)
        status = 500  # what the client gets if the app raises before it answers
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()),
                                      (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            HTTP_REQUESTS.labels(self.service, method, route, str(status)).inc()
            HTTP_DURATION.labels(self.service, method, route).observe(
                time.perf_counter() - started)
            REQUEST_ID.reset(token)


def install_observability(app: FastAPI, service: str) -> None:
    """Request ids and metrics for every request of ``app``, and ``GET /metrics``.

    Added last, so the observer is the outermost middleware: it sees every answer, the
    body-size limit's 413s included.
    """

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.add_route("/metrics", metrics, methods=["GET"], include_in_schema=False)
    app.add_middleware(RequestObserver, service=service)
