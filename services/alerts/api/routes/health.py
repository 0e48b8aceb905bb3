"""Liveness for ``truyvet up``/``status`` and load balancers."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The service is up and has read the registry")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}

