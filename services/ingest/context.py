"""What every route needs, created once at start-up and reached through ``request.app.state``."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from fastapi import Request

from services.core.config import Settings
from services.core.http.auth import Authenticator
from services.core.pseudonym import Pseudonymizer
from services.core.registry_log import RegistryFollower
from services.core.secrets import QrSigner
from services.ingest.admission import AdmissionPolicy
from services.ingest.case_log import CaseLog
from services.ingest.directory import DirectorySealer
from services.ingest.publisher import KafkaPublisher
from services.ingest.replays import RecentEvents


@dataclass(slots=True)
class IngestContext:
    settings: Settings
    publisher: KafkaPublisher
    registry: RegistryFollower
    auth: Authenticator
    pseudonymizer: Pseudonymizer
    qr_signer: QrSigner
    admission: AdmissionPolicy
    case_log: CaseLog
    sealer: DirectorySealer
    alerts_http: httpx.AsyncClient
    recent: RecentEvents = field(default_factory=RecentEvents)


def context(request: Request) -> IngestContext:
    ctx: IngestContext = request.app.state.ingest
    return ctx
