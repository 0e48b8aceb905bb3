"""HTTP refusals with a machine-readable body, and the handlers that render them.

Every refusal is ``application/problem+json`` (RFC 9457): ``type``, ``title``, ``status`` and
``detail``, plus this API's own members — ``error`` (a stable code) and, for a body or query
that does not match, ``errors`` (one entry per problem).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.status import HTTP_503_SERVICE_UNAVAILABLE

log = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    503: "unavailable",
}


PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:truyvet:problem:"
"""A problem's ``type`` is ``urn:truyvet:problem:<error>``: a name, not a page to fetch."""


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


class ApiError(Exception):
    """A refusal a route raises; rendered as ``{"error", "detail", "errors"?}``."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        error: str | None = None,
        errors: list[Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.error = error or _CODES.get(status, "error")
        self.errors = errors
        self.headers = headers


def problem_body(status: int, detail: str, *, error: str | None = None,
                 errors: Any = None) -> dict[str, Any]:
    """An RFC 9457 problem with this API's ``error`` code (and ``errors`` where given).

    Example:
        >>> problem_body(404, "no venue 'x'")
        {'type': 'urn:truyvet:problem:not_found', 'title': 'Not Found', 'status': 404, \
'error': 'not_found', 'detail': "no venue 'x'"}
    """
    code = error or _CODES.get(status, "error")
    body: dict[str, Any] = {"type": PROBLEM_TYPE_BASE + code, "title": _title(status),
                            "status": status, "error": code, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    return body


def problem(
    status: int,
    detail: str,
    *,
    error: str | None = None,
    errors: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return ProblemResponse(status_code=status, headers=headers,
                           content=problem_body(status, detail, error=error, errors=errors))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return problem(
            exc.status, exc.detail, error=exc.error, errors=exc.errors, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return problem(422, "the request does not match the schema", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI's answer to a body it cannot decode (not UTF-8): refused like any other
            # body that is not JSON, with the documented 422.
            return problem(422, "the request body is not valid UTF-8 JSON", error="invalid_body")
        return problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Logged with the path, never with the body: bodies carry raw person identifiers.
        log.error("unhandled error on %s %s: %r", request.method, request.url.path, exc)
        return problem(
            HTTP_503_SERVICE_UNAVAILABLE,
            "the service could not complete the request; retry later",
            headers={"Retry-After": "5"},
        )


def refusals(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` documenting each status as the shared problem body."""
    from schemas.errors import Problem

    return {status: {"model": Problem} for status in statuses}
