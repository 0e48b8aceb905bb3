"""``/healthz`` (the process is alive) and ``/readyz`` (it can do its work) of both HTTP services.

Readiness runs the checks a service put in ``app.state.readiness`` when it started, each a
coroutine function that returns if its dependency answers and raises if not: a load balancer
sends traffic only where every one passes, and a service still starting is not ready.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.core.clickhouse import clickhouse_client
from services.core.config import Settings

Check = Callable[[], Awaitable[object]]


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str] = Field(description="Each dependency: `ok` or why it failed.")


class Liveness(BaseModel):
    status: Literal["ok"]
CHECK_TIMEOUT_S = 3.0

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
async def healthz() -> Liveness:
    return Liveness(status="ok")


@router.get(
    "/readyz",
    summary="Kafka (and ClickHouse where the service reads it) answer and the registry is loaded",
    response_model=Readiness,
    responses={503: {"description": "a dependency does not answer, or the service is starting",
                     "model": Readiness}},
)
async def readyz(request: Request) -> JSONResponse:
    checks: dict[str, Check] = getattr(request.app.state, "readiness", {})
    results = dict(await asyncio.gather(*(_run(name, check) for name, check in checks.items())))
    ready = bool(checks) and all(result == "ok" for result in results.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": results},
        status_code=200 if ready else 503,
        headers=None if ready else {"Retry-After": "5"},
    )


async def _run(name: str, check: Check) -> tuple[str, str]:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_S)
    except Exception as exc:
        return name, f"failed: {type(exc).__name__}"
    return name, "ok"


def clickhouse_check(settings: Settings) -> Check:
    """A check that ClickHouse answers ``SELECT 1`` on a connection of its own."""

    def ping() -> None:
        client = clickhouse_client(settings)
        try:
            client.execute("SELECT 1")
        finally:
            client.disconnect()

    async def clickhouse() -> None:
        await asyncio.get_running_loop().run_in_executor(None, ping)

    return clickhouse
