"""The alerts HTTP service: what health workers and dashboards read about cases and contacts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from aiokafka.errors import KafkaError
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.alerts.api.audit import AuditLog
from services.alerts.api.context import AlertsContext
from services.alerts.api.routes import (
    alerts,
    cases,
    contacts,
    dashboard,
    exposure_events,
    figures,
    funnel,
    health,
    people,
    venue_alerts,
    venues,
    visitors,
    whoami,
)
from services.alerts.api.stream import (
    AlertStreams,
    BadEventIdError,
    TokenStreamsExhaustedError,
    TooManyStreamsError,
)
from services.alerts.domain import InconsistentAlertsError
from services.alerts.domain.graph import InvalidGraphInputError
from services.alerts.queries import AlertsQueries, StoreUnavailableError, TooManyContactsError
from services.core.config import Settings
from services.core.http.auth import Authenticator
from services.core.http.body import MAX_JSON_BODY_BYTES, BodySizeLimit
from services.core.http.conventions import app_options, install_api_conventions
from services.core.http.errors import install_error_handlers, problem
from services.core.http.health import clickhouse_check
from services.core.http.observe import install_observability
from services.core.http.ratelimit import FailureLimiter
from services.core.metrics import SSE_CLIENTS
from services.core.registry_log import RegistryFollower

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastAPI:
    """The ASGI app; Kafka and ClickHouse clients are created when it starts, not when built.

    ``app.state.streams`` is there from the start (it connects only in the lifespan), so the
    server can end open SSE streams as soon as it is told to stop (see ``__main__``).
    """
    streams = AlertStreams(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        registry = RegistryFollower(settings)
        queries = AlertsQueries(settings)
        audit = AuditLog(settings, queries)
        purging = asyncio.create_task(_purge_every_hour(settings, queries))
        try:
            await registry.start()
            await streams.start()
            await audit.start()
            app.state.auth = Authenticator(registry, FailureLimiter())
            app.state.alerts = AlertsContext(settings=settings, queries=queries, streams=streams,
                                             audit=audit, registry=registry)
            app.state.readiness = {"kafka": registry.reachable, "registry": registry.following,
                                   "clickhouse": clickhouse_check(settings)}
            SSE_CLIENTS.set_function(streams.open_count)
            yield
        finally:
            purging.cancel()
            await streams.stop()
            await audit.stop()
            await registry.stop()
            queries.close()

    app = FastAPI(
        **app_options(),
        title="truyvet alerts",
        version="1.0.0",
        description="Who must be alerted about a case and why, contact graphs of venues, and "
        "alerts live as Server-Sent Events. Persons appear only as pseudonyms.",
        lifespan=lifespan,
    )
    app.state.streams = streams
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=MAX_JSON_BODY_BYTES)
    _install_read_error_handlers(app)
    for module in (health, whoami, cases, contacts, people, exposure_events, venues, visitors,
                   alerts, figures, funnel, venue_alerts, dashboard):
        app.include_router(module.router)
    app.mount("/static", dashboard.static_files(), name="static")
    install_api_conventions(app, "alerts")
    install_observability(app, "alerts")
    return app


PURGE_EVERY_S = 3600.0


async def _purge_every_hour(settings: Settings, queries: AlertsQueries) -> None:
    """Rule 10's audit period: cases, alerts, follow-ups and audit rows older than it go, and
    sealed identifiers older than the retention horizon, every hour (any replica may; the
    deletes are idempotent)."""
    while True:
        await asyncio.sleep(PURGE_EVERY_S)
        now = datetime.now(UTC)
        cutoff = now - timedelta(days=settings.audit_retention_days)
        try:
            await queries.purge_directory(now - settings.retention)
            dropped = await queries.purge_audit_period(cutoff)
        except StoreUnavailableError as exc:
            log.warning("audit-period purge failed, retried in an hour: %r", exc)
        else:
            log.info("audit period: deleted cases and alerts before %s, dropped %s", cutoff,
                     dropped)


def _install_read_error_handlers(app: FastAPI) -> None:
    """What the stores and the domain can refuse, as the shared problem bodies."""

    @app.exception_handler(StoreUnavailableError)
    @app.exception_handler(KafkaError)
    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("%s %s: store unavailable: %r", request.method, request.url.path, exc)
        return problem(503, "the alerts store is unavailable; retry later",
                       headers={"Retry-After": "5"})

    @app.exception_handler(InconsistentAlertsError)
    async def _in_flux(request: Request, exc: Exception) -> JSONResponse:
        # The worker replaces a case's alerts row by row: a read in between can see half of it.
        log.warning("%s %s: %s", request.method, request.url.path, exc)
        return problem(503, "the case's alerts are being updated; retry in a moment",
                       error="alerts_in_flux", headers={"Retry-After": "1"})

    @app.exception_handler(TooManyStreamsError)
    async def _busy(_: Request, exc: Exception) -> JSONResponse:
        return problem(503, str(exc), headers={"Retry-After": "30"})

    @app.exception_handler(TokenStreamsExhaustedError)
    async def _token_busy(_: Request, exc: Exception) -> JSONResponse:
        return problem(429, str(exc), headers={"Retry-After": "30"})

    @app.exception_handler(BadEventIdError)
    async def _bad_event_id(_: Request, exc: Exception) -> JSONResponse:
        return problem(422, str(exc), error="invalid_last_event_id")

    @app.exception_handler(TooManyContactsError)
    async def _too_large(_: Request, exc: Exception) -> JSONResponse:
        return problem(422, str(exc), error="graph_too_large")

    @app.exception_handler(InvalidGraphInputError)
    async def _bad_rows(request: Request, exc: Exception) -> JSONResponse:
        # Stored contacts that do not fit their own venue/day key: a writer bug, logged loudly.
        log.error("%s %s: stored contacts are inconsistent: %s", request.method,
                  request.url.path, exc)
        return problem(503, "stored contacts of this venue are inconsistent; retry later",
                       headers={"Retry-After": "60"})
