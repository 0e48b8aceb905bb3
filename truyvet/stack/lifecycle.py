"""``up``, ``down`` and ``status`` of the whole local stack, in dependency order.

``up`` is idempotent: a part that already runs (by its pid file) is left alone and only checked.
``down`` stops only what a pid file of this state dir names: services first (they hold client
connections), then Kafka, then ClickHouse. ``isolated_copy`` gives tests and benchmarks stores of
their own on a stack they share.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from services.core.config import IngestSettings, Settings
from truyvet.stack import clickhouse, kafka, prometheus, services
from truyvet.stack.credentials import with_local_secrets
from truyvet.stack.layout import StateLayout
from truyvet.stack.migrations import apply_migrations
from truyvet.stack.processes import StackError, free_port
from truyvet.stack.status import PartStatus
from truyvet.stack.topics import create_topics

Progress = Callable[[str], None]
INFRASTRUCTURE = ("kafka", "clickhouse")
MONITORING = ("prometheus",)


def _quiet(_: str) -> None:
    return None


@contextmanager
def _step(progress: Progress, label: str) -> Iterator[list[str]]:
    """Report ``label: <what happened> (<seconds>)`` once the block has filled in what happened."""
    began = time.monotonic()
    outcome: list[str] = []
    yield outcome
    progress(f"{label}: {' '.join(outcome) or 'done'} ({time.monotonic() - began:.1f} s)")


@dataclass
class UpResult:
    settings: IngestSettings  # with the stack's secrets filled in
    started: list[str] = field(default_factory=list)  # parts this call started
    skipped: list[str] = field(default_factory=list)  # services whose module does not exist yet
    admin_token: str | None = None


def start_infrastructure(settings: Settings, progress: Progress = _quiet) -> list[str]:
    """Start Kafka and ClickHouse (each unless running); return the names of those started now."""
    started: list[str] = []
    if not kafka.jars_ready(settings):
        with _step(progress, "kafka jars") as outcome:
            libs = kafka.ensure_jars(settings)
            outcome.append(f"resolved into {libs}")
    for name, part in (("kafka", kafka), ("clickhouse", clickhouse)):
        with _step(progress, name) as outcome:
            pid, now = part.start(settings)
            shown = ", ".join(map(str, kafka.pids(settings))) if part is kafka else str(pid)
            outcome.append(f"{'started' if now else 'already running'}, pid {shown}")
        if now:
            started.append(name)
    return started


def prepare_stores(settings: Settings, progress: Progress = _quiet) -> None:
    """Create the topics and apply the ClickHouse migrations of ``settings`` (both idempotent)."""
    with _step(progress, "topics") as outcome:
        created = create_topics(settings)
        outcome.append(f"created {', '.join(created)}" if created else "all present")
    with _step(progress, "migrations") as outcome:
        applied = apply_migrations(settings)
        outcome.append(f"applied {', '.join(applied)}" if applied else "up to date")


def isolated_copy(
    stack: IngestSettings, state_dir: Path, *, topic_prefix: str, database: str,
    **overrides: object,
) -> IngestSettings:
    """``stack``'s settings on a topic prefix and database of their own, free ports for the
    HTTP services (none for the workers' metrics) and fresh secrets, with the topics created
    and the migrations applied."""
    settings = stack.model_copy(
        update={
            "topic_prefix": topic_prefix,
            "clickhouse_database": database,
            "ingest_port": free_port(),
            "alerts_port": free_port(),
            # Workers started on these settings serve no metrics unless asked: several of them
            # (a scale-out test) would want the same port.
            "tracer_metrics_port": 0,
            "alerts_worker_metrics_port": 0,
            "state_dir": state_dir,
            "pseudonym_secret": SecretStr(secrets.token_urlsafe(32)),
            "qr_secret": SecretStr(secrets.token_urlsafe(32)),
            "read_secret": SecretStr(secrets.token_urlsafe(32)),
            **overrides,
        }
    )
    prepare_stores(settings)
    return settings


def up(settings: IngestSettings, progress: Progress = _quiet) -> UpResult:
    """Bring the whole local stack up and return what happened."""
    settings = kafka.with_cluster(with_local_secrets(settings, create=True))
    result = UpResult(settings)
    result.started += start_infrastructure(settings, progress)
    prepare_stores(settings, progress)
    failures: list[str] = []
    for spec in services.SERVICES:
        if not spec.available():
            progress(f"{spec.name}: skipped, module {spec.module} does not exist yet")
            result.skipped.append(spec.name)
            continue
        # One broken service must not keep the others down: whoever works on the tracer still
        # wants it running while ingest is broken. The failures are raised together at the end.
        try:
            with _step(progress, spec.name) as outcome:
                pid, now = services.start(spec, settings)
                outcome.append(f"{'started' if now else 'already running'}, pid {pid}")
        except StackError as exc:
            progress(f"{spec.name}: FAILED")
            failures.append(str(exc))
            continue
        if now:
            result.started.append(spec.name)
    # Last: it scrapes the services (one that failed to start shows as a target that is down).
    try:
        with _step(progress, prometheus.NAME) as outcome:
            pid, now = prometheus.start(settings)
            outcome.append(f"{'started' if now else 'already running'}, pid {pid}")
        if now:
            result.started.append(prometheus.NAME)
    except StackError as exc:
        progress(f"{prometheus.NAME}: FAILED")
        failures.append(str(exc))
    if failures:
        raise StackError("\n\n".join(failures))
    result.admin_token = _admin_token(settings, progress)
    return result


def _admin_token(settings: Settings, progress: Progress) -> str | None:
    # Imported here: the bootstrap module pulls in the registry, which `status` never needs.
    from truyvet.bootstrap import ensure_admin_token

    try:
        return ensure_admin_token(settings)
    except NotImplementedError:
        progress("admin token: skipped, the registry does not exist yet")
        return None


def stop_infrastructure(settings: Settings, progress: Progress = _quiet) -> None:
    """Stop Kafka, then ClickHouse, if this state dir started them."""
    for name, part in (("kafka", kafka), ("clickhouse", clickhouse)):
        with _step(progress, name) as outcome:
            pid = part.stop(settings)
            outcome.append("not running" if pid is None else f"stopped pid {pid}")


def down(settings: Settings, progress: Progress = _quiet) -> None:
    """Stop everything this state dir started: Prometheus, services, Kafka, then ClickHouse."""
    settings = kafka.with_cluster(settings)
    pid = prometheus.stop(settings)
    if pid is not None:
        progress(f"{prometheus.NAME}: stopped pid {pid}")
    # Every known service, available or not: one may have been started before its module moved.
    for spec in reversed(services.SERVICES):
        pid = services.stop(spec, settings)
        if pid is not None:
            progress(f"{spec.name}: stopped pid {pid}")
    stop_infrastructure(settings, progress)


def part_names() -> list[str]:
    return [*INFRASTRUCTURE, *(spec.name for spec in services.SERVICES), *MONITORING]


def status(settings: Settings, parts: Sequence[str] | None = None) -> list[PartStatus]:
    """The status of each part (all by default; services only if their module exists)."""
    wanted = set(parts) if parts else None
    settings = kafka.with_cluster(settings)
    found: list[PartStatus] = []
    for name, part in (("kafka", kafka), ("clickhouse", clickhouse)):
        if wanted is None or name in wanted:
            found.append(part.status(settings))
    for spec in services.SERVICES:
        if wanted is None and not spec.available():
            continue
        if wanted is None or spec.name in wanted:
            found.append(services.status(spec, settings))
    if wanted is None or prometheus.NAME in wanted:
        found.append(prometheus.status(settings))
    return found


def urls(settings: Settings) -> dict[str, str]:
    """Where to find each part of the stack, for people."""
    ingest = f"http://{settings.ingest_host}:{settings.ingest_port}"
    dashboard = f"http://{settings.alerts_host}:{settings.alerts_port}"
    return {
        "ingest": ingest,
        "OpenAPI": f"{ingest}/openapi.json",
        "dashboard": f"{dashboard}/",
        "Kafka bootstrap": f"{settings.kafka_bootstrap} ({settings.kafka_security_protocol} "
                           f"{settings.kafka_sasl_mechanism}, user {settings.kafka_username})",
        "ClickHouse native": f"{settings.clickhouse_host}:{settings.clickhouse_port} "
                             f"(user {settings.clickhouse_user})",
        "ClickHouse HTTP": f"http://{settings.clickhouse_host}:{settings.clickhouse_http_port}",
        "Prometheus": prometheus.address(settings),
        "tracer metrics": f"http://{settings.metrics_host}:{settings.tracer_metrics_port}/metrics",
        "alerts worker metrics":
            f"http://{settings.metrics_host}:{settings.alerts_worker_metrics_port}/metrics",
        "passwords": str(StateLayout.of(settings).secrets_file),
        "state dir": str(StateLayout.of(settings).root),
    }
