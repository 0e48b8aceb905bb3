"""The dashboard web page at ``/`` and its static assets under ``/static``.

The page is static HTML, CSS and JavaScript modules (``services/alerts/api/static/``) that read
the same API as any other client, with a dashboard token the viewer enters: nothing about cases
or persons is ever rendered by the server into HTML.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from starlette.responses import Response
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(tags=["dashboard"])

# Everything the page loads comes from this origin; scripts and styles only from files, never
# inline, so data that reaches the page (venue names, ids) cannot become code.
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_PAGE_HEADERS = {
    "Content-Security-Policy": _CSP,
    "Cache-Control": "no-cache",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


@router.get("/", response_class=FileResponse, include_in_schema=False)
async def dashboard() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers=_PAGE_HEADERS)


class _Revalidated(StaticFiles):
    """Static files a browser checks (ETag) on every load, so an upgrade shows at once."""

    def file_response(
        self, full_path: PathLike, stat_result: os.stat_result, scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def static_files() -> StaticFiles:
    """The ``/static`` mount (an ASGI app: mounted on the app, as routers cannot carry one)."""
    return _Revalidated(directory=STATIC_DIR)
