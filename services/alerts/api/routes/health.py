"""Liveness for ``truyvet up``/``status`` and load balancers, and the dashboard's placeholder."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["health"])

_DASHBOARD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>truyvet dashboard</title></head>
<body><h1>truyvet dashboard</h1>
<p>The API is at <a href="/docs">/docs</a> (<a href="/openapi.json">/openapi.json</a>).</p>
</body></html>
"""


@router.get("/healthz", summary="The service is up and has read the registry")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def dashboard() -> str:
    return _DASHBOARD
