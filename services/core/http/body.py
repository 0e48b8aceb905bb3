"""Reading request bodies without letting one request take the process's memory."""

from __future__ import annotations

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.core.http.errors import ApiError, problem

MAX_JSON_BODY_BYTES = 1024 * 1024
"""Bodies of the JSON endpoints (cases, venues, tokens, QR checks) are a few hundred bytes."""


async def read_capped_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(413, f"the body is larger than {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ApiError(413, f"the body is larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class BodySizeLimit:
    """ASGI middleware: a body over ``max_bytes`` gets 413 before any route reads it.

    FastAPI reads a JSON body whole before it runs a route's dependencies, so before the
    credential is even checked: without this, anyone could make the service hold a body of any
    size. Paths in ``own_caps`` read their body themselves within a cap of their own
    (:func:`read_capped_body`) and pass through untouched.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, own_caps: frozenset[str] = frozenset()):
        self.app, self.max_bytes, self.own_caps = app, max_bytes, own_caps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.own_caps:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        # Without a Content-Length (chunked), the size shows only while reading: read up to the
        # cap here, then hand the route what was read.
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replay = iter(messages)

        async def replayed() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replayed, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, f"the body is larger than {self.max_bytes} bytes")
        await response(scope, receive, send)
