"""The ingest HTTP service: venues push scans, authorities report cases."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from schemas.scans import ScanIn
from services.core.config import IngestSettings
from services.core.http.auth import Authenticator
from services.core.http.body import MAX_JSON_BODY_BYTES, BodySizeLimit
from services.core.http.conventions import app_options, install_api_conventions
from services.core.http.errors import install_error_handlers
from services.core.http.observe import install_observability
from services.core.http.ratelimit import FailureLimiter
from services.core.pseudonym import Pseudonymizer
from services.core.registry_log import RegistryFollower
from services.core.secrets import QrSigner
from services.ingest.admission import AdmissionPolicy
from services.ingest.case_log import CaseLog
from services.ingest.context import IngestContext
from services.ingest.directory import DirectorySealer
from services.ingest.identifiers import person_id_normaliser
from services.ingest.publisher import KafkaPublisher
from services.ingest.routes import cases, exposure_events, health, people, scans, tokens, venues

log = logging.getLogger(__name__)


def create_app(settings: IngestSettings) -> FastAPI:
    """The ASGI app; Kafka clients are created when it starts, not when it is built."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        publisher = KafkaPublisher(settings)
        registry = RegistryFollower(settings)
        case_log = CaseLog(settings)
        keys = settings.sealing_keys
        if not keys:
            log.warning("TRUYVET_AUTHORITY_PUBLIC_KEYS is not set: no identifier is sealed for "
                        "the contact directory, and the authority cannot reach the people "
                        "alerted (truyvet authority keygen)")
        # Status lookups are answered by the alerts API, asked with the pseudonym (people.py).
        alerts_http = httpx.AsyncClient(base_url=settings.alerts_base_url, timeout=10.0,
                                        verify=str(settings.tls_cert_file)
                                        if settings.tls_cert_file else True)
        await publisher.start()
        try:
            await registry.start()
            await case_log.start()
            pseudonymizer = Pseudonymizer(
                settings.pseudonym_secret, person_id_normaliser(settings.phone_region)
            )
            qr_signer = QrSigner(settings.qr_secret)
            app.state.auth = Authenticator(registry, FailureLimiter())
            app.state.ingest = IngestContext(
                settings=settings,
                publisher=publisher,
                registry=registry,
                auth=app.state.auth,
                pseudonymizer=pseudonymizer,
                qr_signer=qr_signer,
                admission=AdmissionPolicy(
                    pseudonymizer=pseudonymizer,
                    qr_signer=qr_signer,
                    max_clock_skew=timedelta(seconds=settings.max_clock_skew_s),
                    retention=settings.retention,
                ),
                case_log=case_log,
                sealer=DirectorySealer(keys[0] if keys else None),
                alerts_http=alerts_http,
            )
            app.state.readiness = {"kafka": registry.reachable, "registry": registry.following}
            yield
        finally:
            await alerts_http.aclose()
            await case_log.stop()
            await registry.stop()
            await publisher.stop()

    app = FastAPI(
        **app_options(),
        title="truyvet ingest",
        version="1.0.0",
        description="Venue scans and confirmed cases in. Person identifiers are pseudonymised "
        "here and never leave this service.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    app.add_middleware(BodySizeLimit, max_bytes=MAX_JSON_BODY_BYTES,
                       own_caps=frozenset({"/v1/scans"}), timeout_s=settings.http_body_timeout_s)
    for module in (health, venues, scans, cases, exposure_events, people, tokens):
        app.include_router(module.router)
    _document_raw_body_models(app)
    install_api_conventions(app, "ingest")
    install_observability(app, "ingest")
    return app


def _document_raw_body_models(app: FastAPI) -> None:
    """``POST /v1/scans`` reads its body itself (three formats); publish ScanIn's schema anyway."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = build()
            components = document.setdefault("components", {}).setdefault("schemas", {})
            schema = ScanIn.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(schema.pop("$defs", {}))
            components["ScanIn"] = schema
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
