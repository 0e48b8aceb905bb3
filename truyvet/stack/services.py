"""The project's own services as local processes: what runs, how it is started, when it is healthy.

Each service is ``python -m <module>`` with the deployment's settings as ``TRUYVET_*`` environment
variables, its own log and pid file in the state dir, and its own session so ``down`` stops it
with everything it forked. A service whose module does not exist yet is skipped, so ``truyvet up``
works at every stage of the project.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import httpx

from services.core.config import IngestSettings, Settings
from truyvet.stack.layout import REPO_ROOT, StateLayout
from truyvet.stack.processes import Managed, StackError, ensure_port_free, exited, wait_for
from truyvet.stack.status import PartStatus

# An HTTP service imports its app, connects to Kafka and ClickHouse, then binds: seconds, normally.
START_TIMEOUT_S = 60.0
# A worker without an HTTP endpoint counts as started once it survived its imports and connects.
SETTLE_S = 3.0
STOP_TIMEOUT_S = 20.0


class Health(Protocol):
    """How to tell that a running service works."""

    def address(self, settings: Settings) -> str | None: ...

    def healthy(self, settings: Settings, service: str) -> bool: ...


@dataclass(frozen=True)
class HttpHealth:
    """Healthy when ``GET http://host:port/healthz`` answers 200."""

    endpoint: Callable[[Settings], tuple[str, int]]
    path: str = "/healthz"

    def address(self, settings: Settings) -> str:
        host, port = self.endpoint(settings)
        return f"http://{host}:{port}"

    def healthy(self, settings: Settings, service: str) -> bool:
        try:
            response = httpx.get(self.address(settings) + self.path, timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200


@dataclass(frozen=True)
class HeartbeatHealth:
    """Healthy while alive and, if it writes ``<state_dir>/run/<name>.heartbeat``, that is fresh.

    A stream worker has no port to ask; a heartbeat file it touches from its processing loop is
    what tells a wedged worker from a live one.
    """

    max_age_s: float = 30.0

    def address(self, settings: Settings) -> None:
        return None

    def healthy(self, settings: Settings, service: str) -> bool:
        heartbeat = StateLayout.of(settings).heartbeat_file(service)
        try:
            age = time.time() - heartbeat.stat().st_mtime
        except FileNotFoundError:
            return True  # the service does not write heartbeats (yet): being alive is all we know
        return age < self.max_age_s


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str  # run as `python -m <module>`
    health: Health
    # Only ingest gets the pseudonym and QR keys; every other service runs without them.
    holds_ingest_secrets: bool = False

    def available(self) -> bool:
        """Whether ``python -m <module>`` would find something to run."""
        try:
            spec = importlib.util.find_spec(self.module)
            if spec is not None and spec.submodule_search_locations is not None:
                # A package runs through its __main__ module; without one, -m fails.
                spec = importlib.util.find_spec(f"{self.module}.__main__")
        except ModuleNotFoundError:  # a parent package is missing
            return False
        return spec is not None


def _ingest(settings: Settings) -> tuple[str, int]:
    return settings.ingest_host, settings.ingest_port


def _alerts(settings: Settings) -> tuple[str, int]:
    return settings.alerts_host, settings.alerts_port


# In start order; `down` stops them in reverse.
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("ingest", "services.ingest", HttpHealth(_ingest), holds_ingest_secrets=True),
    ServiceSpec("tracer", "services.tracer", HeartbeatHealth()),
    ServiceSpec("alerts-worker", "services.alerts.worker", HeartbeatHealth()),
    ServiceSpec("alerts", "services.alerts", HttpHealth(_alerts)),
)


def settings_for(module: str, settings: Settings) -> Settings:
    """What the service ``module`` is started with: ingest gets ``settings`` whole, every
    other service the shared settings, without the ingest-only keys."""
    holds = any(spec.holds_ingest_secrets for spec in SERVICES if spec.module == module)
    if holds or not isinstance(settings, IngestSettings):
        return settings
    return settings.shared()


def _child_env(spec: ServiceSpec, settings: Settings) -> dict[str, str]:
    # Absolute paths: the child runs in the repository root, not where `truyvet` was started.
    absolute = settings_for(spec.module, settings).model_copy(
        update={
            "state_dir": StateLayout.of(settings).root,
            "cache_dir": settings.cache_dir.expanduser().resolve(),
        }
    )
    # Drop inherited TRUYVET_* first: the child must see exactly `settings`, nothing stale.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUYVET_")}
    env.update(absolute.as_env())
    env["PYTHONUNBUFFERED"] = "1"  # log lines reach the log file as they happen
    return env


def process(spec: ServiceSpec, settings: Settings) -> Managed:
    layout = StateLayout.of(settings)
    return Managed(spec.name, layout.pid_file(spec.name), layout.log_file(spec.name), spec.module)


def start(spec: ServiceSpec, settings: Settings) -> tuple[int, bool]:
    """Start one service unless it runs already; wait until healthy. Returns (pid, started)."""
    proc = process(spec, settings)
    if (pid := proc.pid()) is not None:
        _wait_healthy(spec, settings, proc, pid, None)
        return pid, False
    if isinstance(spec.health, HttpHealth):
        host, port = spec.health.endpoint(settings)
        ensure_port_free(host, port, wanted_by=spec.name)
    with contextlib.suppress(FileNotFoundError):  # a previous run's heartbeat says nothing now
        StateLayout.of(settings).heartbeat_file(spec.name).unlink()
    child = proc.spawn(
        [sys.executable, "-m", spec.module], env=_child_env(spec, settings), cwd=REPO_ROOT
    )
    _wait_healthy(spec, settings, proc, child.pid, child)
    return child.pid, True


def _wait_healthy(
    spec: ServiceSpec,
    settings: Settings,
    proc: Managed,
    pid: int,
    child: subprocess.Popen[bytes] | None,
) -> None:
    def gone() -> str | None:
        if not exited(pid, child):
            return None
        return f"{spec.name} exited during start-up; last lines of {proc.log_file}:\n{proc.tail()}"

    health = spec.health
    if isinstance(health, HttpHealth):
        if not wait_for(
            lambda: health.healthy(settings, spec.name), timeout=START_TIMEOUT_S, abort=gone
        ):
            raise StackError(
                f"{spec.name} (pid {pid}) did not answer {health.address(settings)}{health.path} "
                f"within {START_TIMEOUT_S:.0f} s; last lines of {proc.log_file}:\n{proc.tail()}"
            )
    elif child is not None:
        # No endpoint to ask: a crash at import or connect shows up as an exit within the settle
        # time; a first heartbeat ends the wait early.
        heartbeat = StateLayout.of(settings).heartbeat_file(spec.name)
        wait_for(heartbeat.exists, timeout=SETTLE_S, abort=gone)


def stop(spec: ServiceSpec, settings: Settings) -> int | None:
    """Stop one service this state dir started; return its pid (None if it was not running)."""
    pid = process(spec, settings).stop(timeout=STOP_TIMEOUT_S)
    with contextlib.suppress(FileNotFoundError):  # nobody is beating any more
        StateLayout.of(settings).heartbeat_file(spec.name).unlink()
    return pid


def status(spec: ServiceSpec, settings: Settings) -> PartStatus:
    pid = process(spec, settings).pid()
    healthy = pid is not None and spec.health.healthy(settings, spec.name)
    return PartStatus.of(spec.name, pid=pid, address=spec.health.address(settings), healthy=healthy)
