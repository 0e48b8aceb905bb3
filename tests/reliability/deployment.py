"""A whole deployment on the test stack for the HTTP tests: both APIs, optionally the workers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from schemas.registry import Role
from services.core.config import Settings
from tests.support.processes import ServiceProcess, running_http_service
from tests.support.stack import grant, isolated_settings


@dataclass
class Deployment:
    settings: Settings
    state_dir: Path
    tokens: dict[Role, str]
    processes: list[ServiceProcess] = field(default_factory=list)

    def url(self, service: str) -> str:
        s = self.settings
        if service == "ingest":
            return f"http://{s.ingest_host}:{s.ingest_port}"
        assert service == "alerts", service
        return f"http://{s.alerts_host}:{s.alerts_port}"

    def http(self, service: str, secret: str | None = None, *,
             source: str = "127.0.0.1") -> httpx.Client:
        """A client of ``service`` sending ``secret`` as bearer, from loopback address ``source``
        (failed authentications are rate-limited per address)."""
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        return httpx.Client(base_url=self.url(service), headers=headers, timeout=30,
                            transport=httpx.HTTPTransport(local_address=source))

    def log_files(self) -> list[Path]:
        return [p.log_path for p in self.processes]

    def add_venue(self, venue_id: str) -> dict[str, str]:
        with self.http("ingest", self.tokens[Role.ADMIN]) as admin:
            answer = admin.post("/v1/venues", json={"venue_id": venue_id, "name": venue_id,
                                                    "kind": "shop"})
        assert answer.status_code == 201, answer.text
        created: dict[str, str] = answer.json()
        return created


@contextmanager
def running_deployment(stack: Settings, state_dir: Path, *, workers: bool,
                       **overrides: object) -> Iterator[Deployment]:
    """Ingest and the alerts API (and the tracer and alerts worker if ``workers``) running on
    topics and a database of their own (``overrides``: settings of their own too)."""
    settings = isolated_settings(stack, state_dir, **overrides)
    tokens = {role: grant(settings, role) for role in (Role.ADMIN, Role.AUTHORITY, Role.DASHBOARD,
                                                     Role.NOTIFIER)}
    deployment = Deployment(settings, state_dir, tokens)
    with ExitStack() as running:
        for module, service, log in (("services.ingest", "ingest", "ingest.log"),
                                     ("services.alerts", "alerts", "alerts-api.log")):
            deployment.processes.append(running.enter_context(running_http_service(
                module, settings, deployment.url(service), state_dir / log)))
        if workers:
            for module, log in (("services.tracer", "tracer.log"),
                                ("services.alerts.worker", "alerts-worker.log")):
                worker = ServiceProcess(module, settings, state_dir / log)
                running.callback(worker.stop)
                deployment.processes.append(worker)
        yield deployment
