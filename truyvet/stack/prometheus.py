"""A local Prometheus from Debian's ``prometheus`` package, scraping every part of the stack.

``truyvet up`` renders ``deploy/prometheus/prometheus.yml`` for the stack's ports into
``<state_dir>/prometheus/``, with the alert rules of ``deploy/prometheus/rules.yml``, and runs
``prometheus`` with its data there too.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from string import Template

import httpx

from services.core.config import Settings
from truyvet.stack.layout import StateLayout, deploy_file
from truyvet.stack.processes import Managed, StackError, ensure_port_free, exited, wait_for
from truyvet.stack.status import PartStatus

NAME = "prometheus"
LISTEN_HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0


def binary(name: str = "prometheus") -> str:
    """``prometheus`` or ``promtool`` from Debian's ``prometheus`` package."""
    found = shutil.which(name)
    if found is None:
        raise StackError(f"{name} not found on PATH; install Debian's package: "
                         "apt-get install -y prometheus")
    return found


def address(settings: Settings) -> str:
    return f"http://{LISTEN_HOST}:{settings.prometheus_port}"


def _home(settings: Settings) -> Path:
    return StateLayout.of(settings).root / NAME


def render_config(settings: Settings, rules_file: Path, scrape_interval: str = "15s") -> str:
    """The scrape configuration of ``settings``' parts (a worker on port 0: a target down)."""
    template = deploy_file("prometheus", "prometheus.yml")
    values = {
        "scrape_interval": scrape_interval,
        "deployment": settings.topic_prefix or "truyvet",
        "rules_file": rules_file,
        "ingest": f"{settings.ingest_host}:{settings.ingest_port}",
        "alerts": f"{settings.alerts_host}:{settings.alerts_port}",
        "tracer": f"{settings.metrics_host}:{settings.tracer_metrics_port}",
        "alerts_worker": f"{settings.metrics_host}:{settings.alerts_worker_metrics_port}",
        "prometheus": f"{LISTEN_HOST}:{settings.prometheus_port}",
    }
    try:
        return Template(template.read_text()).substitute(values)
    except (KeyError, ValueError) as exc:
        raise StackError(f"{template}: bad or unknown placeholder: {exc}") from exc


def write_config(settings: Settings, scrape_interval: str = "15s") -> Path:
    """``<state_dir>/prometheus/prometheus.yml`` and its rules beside it; return its path."""
    home = _home(settings)
    (home / "data").mkdir(parents=True, exist_ok=True)
    rules = home / "rules.yml"
    shutil.copyfile(deploy_file("prometheus", "rules.yml"), rules)
    config = home / "prometheus.yml"
    config.write_text(render_config(settings, rules, scrape_interval))
    return config


def process(settings: Settings) -> Managed:
    layout = StateLayout.of(settings)
    marker = f"--config.file={_home(settings) / 'prometheus.yml'}"
    return Managed(NAME, layout.pid_file(NAME), layout.log_file(NAME), marker=marker)


def is_ready(settings: Settings) -> bool:
    try:
        return httpx.get(f"{address(settings)}/-/ready", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def start(settings: Settings, scrape_interval: str = "15s") -> tuple[int, bool]:
    """Start Prometheus unless it runs already; wait until ready. Returns (pid, started)."""
    proc = process(settings)
    if (pid := proc.pid()) is not None:
        _wait_ready(settings, proc, pid, None)
        return pid, False
    executable = binary()
    ensure_port_free(LISTEN_HOST, settings.prometheus_port, wanted_by="Prometheus")
    config = write_config(settings, scrape_interval)
    child = proc.spawn([
        executable, f"--config.file={config}",
        f"--storage.tsdb.path={config.parent / 'data'}",
        f"--web.listen-address={LISTEN_HOST}:{settings.prometheus_port}",
        # Retention of the local stack's figures; a production Prometheus sets its own.
        "--storage.tsdb.retention.time=7d",
    ], cwd=config.parent)
    _wait_ready(settings, proc, child.pid, child)
    return child.pid, True


def _wait_ready(settings: Settings, proc: Managed, pid: int,
                child: subprocess.Popen[bytes] | None) -> None:
    def gone() -> str | None:
        if not exited(pid, child):
            return None
        return f"Prometheus exited during start-up; last lines of {proc.log_file}:\n{proc.tail()}"

    if not wait_for(lambda: is_ready(settings), timeout=START_TIMEOUT_S, abort=gone):
        raise StackError(f"Prometheus (pid {pid}) was not ready at {address(settings)} within "
                         f"{START_TIMEOUT_S:.0f} s; last lines of {proc.log_file}:\n{proc.tail()}")


def stop(settings: Settings) -> int | None:
    return process(settings).stop(timeout=STOP_TIMEOUT_S)


def status(settings: Settings) -> PartStatus:
    pid = process(settings).pid()
    healthy = pid is not None and is_ready(settings)
    return PartStatus.of(NAME, pid=pid, address=address(settings), healthy=healthy)
