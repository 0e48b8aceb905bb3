"""A local ClickHouse server from Debian's ``clickhouse-server`` package.

The package starts nothing by itself here (no systemd), so the stack runs
``clickhouse-server --config-file=<state_dir>/clickhouse/config.xml`` itself, with every path of
the server (data, tmp, logs) inside the state dir.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path
from string import Template
from xml.sax.saxutils import escape

import psutil
from clickhouse_driver import Client

from services.core.clickhouse import connection_options
from services.core.config import Settings
from truyvet.stack.layout import StateLayout, deploy_file, write_private
from truyvet.stack.processes import (
    Managed,
    StackError,
    ensure_port_free,
    exited,
    log_tails,
    port_open,
    wait_for,
)
from truyvet.stack.status import PartStatus

NAME = "clickhouse"
LISTEN_HOST = "127.0.0.1"
APT_PACKAGES = "clickhouse-server clickhouse-client"
START_TIMEOUT_S = 60.0
# A graceful stop waits for running queries and flushes; a stuck merge must not hang `down`.
STOP_TIMEOUT_S = 30.0
# Becomes an XML tag in the config: a user name outside this pattern would break the file.
_USER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def server_binary() -> str:
    binary = shutil.which("clickhouse-server")
    if binary is None:
        raise StackError(
            "clickhouse-server not found on PATH; install Debian's package: "
            f"apt-get install -y {APT_PACKAGES}"
        )
    return binary


def _paths(settings: Settings) -> tuple[Path, Path]:
    """(config file, log dir) of this state dir."""
    layout = StateLayout.of(settings)
    return layout.clickhouse_dir / "config.xml", layout.logs_dir / "clickhouse"


def render_config(settings: Settings) -> str:
    """The server configuration for ``settings``, from ``deploy/clickhouse/config.xml``."""
    if not _USER_NAME.match(settings.clickhouse_user):
        raise StackError(
            f"TRUYVET_CLICKHOUSE_USER={settings.clickhouse_user!r}: the local server needs a user "
            "name of letters, digits and underscores"
        )
    config_file, log_dir = _paths(settings)
    home = config_file.parent
    password = settings.clickhouse_password.get_secret_value()
    if not password:
        raise StackError(
            "the local ClickHouse has no passwordless user: set TRUYVET_CLICKHOUSE_PASSWORD "
            "(`truyvet up` generates it into the state dir)"
        )
    password_element = (
        f"<password_sha256_hex>{hashlib.sha256(password.encode()).hexdigest()}"
        "</password_sha256_hex>"
    )
    # Half of the machine's memory, at most 10 GB (the package's default), per query.
    max_memory = min(10_000_000_000, psutil.virtual_memory().total // 2)
    values = {
        "config_file": config_file,
        "log_dir": log_dir,
        "listen_host": LISTEN_HOST,
        "tcp_port": settings.clickhouse_port,
        "http_port": settings.clickhouse_http_port,
        "data_dir": home / "data",
        "tmp_dir": home / "tmp",
        "user_files_dir": home / "user_files",
        "format_schema_dir": home / "format_schemas",
        "max_memory_usage": max_memory,
        "user": settings.clickhouse_user,
    }
    template_file = deploy_file("clickhouse", "config.xml")
    try:
        return Template(template_file.read_text()).substitute(
            {key: escape(str(value)) for key, value in values.items()},
            password_element=password_element,
        )
    except (KeyError, ValueError) as exc:
        raise StackError(f"{template_file}: bad or unknown placeholder: {exc}") from exc


def write_config(settings: Settings) -> Path:
    """Write ``<state_dir>/clickhouse/config.xml`` (and its folders); return its path."""
    config_file, log_dir = _paths(settings)
    home = config_file.parent
    for folder in (home / "data", home / "tmp", home / "user_files", home / "format_schemas"):
        folder.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    write_private(config_file, render_config(settings))
    return config_file


def connect(settings: Settings, *, database: str | None = None, timeout: float = 10.0) -> Client:
    """A native-protocol client for ``settings`` (``database`` defaults to the server's default)."""
    return Client(
        **connection_options(settings),
        database=database or "default",
        connect_timeout=timeout,
        send_receive_timeout=max(timeout, 30.0),
        client_name="truyvet-stack",
    )


def drop_database(settings: Settings) -> None:
    """Drop ``settings.clickhouse_database`` if it exists (a test's or a benchmark run's own)."""
    drop_databases(settings, [settings.clickhouse_database])


def drop_databases(settings: Settings, names: list[str]) -> None:
    """Drop each of ``names`` that exists, over one connection to ``settings``' server."""
    client = connect(settings)
    try:
        for name in names:
            client.execute(f"DROP DATABASE IF EXISTS {name}")
    finally:
        client.disconnect()


def is_ready(settings: Settings, *, timeout: float = 2.0) -> bool:
    """Whether ``SELECT 1`` answers over the native port."""
    if not port_open(settings.clickhouse_host, settings.clickhouse_port):
        return False  # cheap, and spares the driver's logged traceback for a refused connection
    client = Client(
        **connection_options(settings),
        connect_timeout=timeout,
        send_receive_timeout=timeout,
        client_name="truyvet-stack-probe",
    )
    try:
        return bool(client.execute("SELECT 1") == [(1,)])
    except Exception:  # connection refused, server still loading, wrong password: not ready
        return False
    finally:
        client.disconnect()


def process(settings: Settings) -> Managed:
    layout = StateLayout.of(settings)
    config_file, _ = _paths(settings)
    marker = f"--config-file={config_file}"
    return Managed(NAME, layout.pid_file(NAME), layout.log_file(NAME), marker=marker)


def start(settings: Settings) -> tuple[int, bool]:
    """Start the server unless it runs already; wait until it answers. Returns (pid, started)."""
    proc = process(settings)
    if (pid := proc.pid()) is not None:
        _wait_ready(settings, proc, pid, None)
        return pid, False
    binary = server_binary()
    ensure_port_free(LISTEN_HOST, settings.clickhouse_port, wanted_by="ClickHouse (native port)")
    ensure_port_free(LISTEN_HOST, settings.clickhouse_http_port, wanted_by="ClickHouse (HTTP port)")
    config_file = write_config(settings)
    child = proc.spawn([binary, f"--config-file={config_file}"], cwd=config_file.parent)
    _wait_ready(settings, proc, child.pid, child)
    return child.pid, True


def _wait_ready(
    settings: Settings, proc: Managed, pid: int, child: subprocess.Popen[bytes] | None
) -> None:
    _, log_dir = _paths(settings)
    logs = (log_dir / "server.err.log", proc.log_file)

    def gone() -> str | None:
        if not exited(pid, child):
            return None
        return f"ClickHouse exited during start-up.\n{log_tails(*logs)}"

    if not wait_for(lambda: is_ready(settings), timeout=START_TIMEOUT_S, abort=gone):
        raise StackError(
            f"ClickHouse (pid {pid}) did not answer SELECT 1 on {settings.clickhouse_host}:"
            f"{settings.clickhouse_port} within {START_TIMEOUT_S:.0f} s.\n{log_tails(*logs)}"
        )


def stop(settings: Settings) -> int | None:
    """Stop the server this state dir started; return its pid."""
    return process(settings).stop(timeout=STOP_TIMEOUT_S)


def status(settings: Settings) -> PartStatus:
    pid = process(settings).pid()
    healthy = pid is not None and is_ready(settings)
    address = f"{settings.clickhouse_host}:{settings.clickhouse_port}"
    return PartStatus.of(NAME, pid=pid, address=address, healthy=healthy)
