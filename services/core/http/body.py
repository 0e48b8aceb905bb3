"""Reading request bodies without letting one request take the process's memory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.core.http.errors import ApiError, problem
from services.core.http.strict_json import DuplicateKeyError, loads_strict

BODY_TIMEOUT_S = 120.0
"""How long a request body may take to arrive, by default (TRUYVET_HTTP_BODY_TIMEOUT_S)."""

MAX_JSON_BODY_BYTES = 1024 * 1024
"""Bodies of the JSON endpoints (cases, venues, tokens, QR checks) are a few hundred bytes."""


async def capped_chunks(
    request: Request, max_bytes: int, timeout_s: float = BODY_TIMEOUT_S
) -> AsyncIterator[bytes]:
    """The body's chunks as they arrive; 413 as soon as they exceed ``max_bytes``, 408 if the
    whole body has not arrived ``timeout_s`` after the route began to read it."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(413, f"the body is larger than {max_bytes} bytes")
    size = 0
    chunks = request.stream().__aiter__()
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            async with asyncio.timeout_at(deadline):
                chunk = await anext(chunks)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise ApiError(408, _slow_body(timeout_s), headers={"Connection": "close"}) from None
        size += len(chunk)
        if size > max_bytes:
            raise ApiError(413, f"the body is larger than {max_bytes} bytes")
        yield chunk


def _slow_body(timeout_s: float) -> str:
    return f"the request body did not arrive within {timeout_s:g} s"


class BodySizeLimit:
    """ASGI middleware: a body over ``max_bytes`` gets 413 before any route reads it, and a
    JSON body that repeats a key in one object a 422 (:mod:`strict_json`).

    FastAPI reads a JSON body whole before it runs a route's dependencies, so before the
    credential is even checked: without this, anyone could make the service hold a body of any
    size. Paths in ``own_caps`` read their body themselves within a cap of their own
    (:func:`capped_chunks`) and pass through untouched.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, own_caps: frozenset[str] = frozenset(),
                 timeout_s: float = BODY_TIMEOUT_S):
        self.app, self.max_bytes, self.own_caps = app, max_bytes, own_caps
        self.timeout_s = timeout_s

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
        deadline = asyncio.get_running_loop().time() + self.timeout_s
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                late = problem(408, _slow_body(self.timeout_s), headers={"Connection": "close"})
                await late(scope, receive, send)
                return
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        problem_found = _duplicate_keys(scope, messages)
        if problem_found is not None:
            await problem(422, problem_found, error="invalid_body")(scope, receive, send)
            return
        replay = iter(messages)

        async def replayed() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, replayed, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, f"the body is larger than {self.max_bytes} bytes")
        await response(scope, receive, send)


def _duplicate_keys(scope: Scope, messages: list[Message]) -> str | None:
    """Why a JSON body is refused for a repeated key, if it is; anything else (not JSON at all,
    another content type) is left to the route."""
    content_type = dict(scope["headers"]).get(b"content-type", b"")
    if b"json" not in content_type:
        return None
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
    try:
        loads_strict(body)
    except DuplicateKeyError as exc:
        return str(exc)
    except ValueError:  # not JSON: the route's own validation says so, in its own words
        return None
    return None
