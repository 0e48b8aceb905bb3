"""Detached processes tracked by pid files, ports, and polling a condition with a deadline.

Every part of the local stack is a process started in its own session (so that ``down`` can stop
it together with anything it forked) with its output in a log file and its pid in a pid file.
A pid file alone is not proof: after a reboot or a crash the pid may belong to an unrelated
process, so a process only counts as ours while its command line still has a marker argument (the
path of its config file, or the module it runs).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil


class StackError(RuntimeError):
    """A part of the local stack could not be prepared, started, checked or stopped."""


@dataclass(frozen=True)
class Managed:
    """A detached process the stack starts and stops by its pid file."""

    name: str
    pid_file: Path
    log_file: Path
    marker: str  # one of its command-line arguments, exactly; guards against recycled pids

    def pid(self) -> int | None:
        """The pid of the running process, or None when it is not running (stale files removed)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if not is_alive(pid):
            with contextlib.suppress(FileNotFoundError):  # stale: the process is gone
                self.pid_file.unlink()
            return None
        # Alive but without our marker: the pid was recycled, or the process is in the middle of
        # exec (its command line reads empty for an instant). Not ours to report or to signal; the
        # file is left for the next spawn to overwrite, never deleted from under a live server.
        return pid if _cmdline_has(pid, self.marker) else None

    def spawn(
        self, argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` detached, output appended to the log file, and write the pid file."""
        if self.marker not in argv:
            raise ValueError(f"marker {self.marker!r} is not part of the command line of {argv}")
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            started = datetime.now(UTC).isoformat(timespec="seconds")
            log.write(f"\n=== {started} truyvet started: {' '.join(argv)}\n".encode())
            log.flush()
            try:
                process = subprocess.Popen(
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=dict(env) if env is not None else None,
                    cwd=cwd,
                    # Own session and process group: it survives the CLI exiting, a Ctrl-C in the
                    # terminal does not reach it, and stop() can signal the whole group.
                    start_new_session=True,
                    close_fds=True,
                )
            except FileNotFoundError as exc:
                raise StackError(f"cannot start {self.name}: {argv[0]} not found") from exc
        tmp = self.pid_file.with_suffix(".pid.tmp")
        tmp.write_text(f"{process.pid}\n")
        tmp.replace(self.pid_file)  # atomic: a concurrent `status` never reads half a pid
        return process

    def stop(self, *, timeout: float) -> int | None:
        """Stop its process group (SIGTERM, SIGKILL after ``timeout``); return the pid stopped."""
        pid = self.pid()
        if pid is None:
            return None
        stop_group(pid, timeout=timeout)
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()
        return pid

    def tail(self, lines: int = 30) -> str:
        return tail(self.log_file, lines)


def exited(pid: int, child: subprocess.Popen[bytes] | None) -> bool:
    """Whether the process being waited for has ended (``child`` when we started it just now)."""
    if child is not None:
        return child.poll() is not None  # also reaps it, so no zombie is left behind
    return not is_alive(pid)


def is_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie, dead but not yet reaped, is not)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:  # NoSuchProcess, AccessDenied (then it is not one of ours either)
        return False


def _cmdline_has(pid: int, marker: str) -> bool:
    try:
        return marker in psutil.Process(pid).cmdline()
    except psutil.Error:
        return False


def stop_group(pid: int, *, timeout: float) -> None:
    """SIGTERM the process group led by ``pid``, wait up to ``timeout``, then SIGKILL it."""
    _signal_group(pid, signal.SIGTERM)
    if not wait_for(lambda: not is_alive(pid), timeout=timeout):
        _signal_group(pid, signal.SIGKILL)
        wait_for(lambda: not is_alive(pid), timeout=10)
    # Children that outlived their leader (e.g. workers of a server) have no one left to stop them.
    _signal_group(pid, signal.SIGKILL)
    _reap(pid)


def terminate_group(pid: int) -> None:
    """SIGTERM the process group led by ``pid`` and return at once (``stop`` waits)."""
    _signal_group(pid, signal.SIGTERM)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _reap(pid: int) -> None:
    # Only possible when we are the parent (the test session started it): leaves no zombie behind.
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def wait_for(
    condition: Callable[[], bool],
    *,
    timeout: float,
    interval: float = 0.2,
    abort: Callable[[], str | None] | None = None,
) -> bool:
    """Poll ``condition`` until it is true (True) or ``timeout`` seconds have passed (False).

    ``abort`` is checked before every poll; when it returns a reason (e.g. "the process exited"),
    waiting longer is pointless and :class:`StackError` is raised with that reason.
    """
    deadline = time.monotonic() + timeout
    while True:
        if abort is not None and (reason := abort()) is not None:
            raise StackError(reason)
        if condition():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(interval, remaining))


def tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a text file ('' if it does not exist)."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read()
    except FileNotFoundError:
        return ""
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


def log_tails(*paths: Path, lines: int = 25) -> str:
    """The tails of several log files, each under a header, for error messages."""
    parts = []
    for path in paths:
        text = tail(path, lines)
        if text.strip():
            parts.append(f"--- last lines of {path} ---\n{text}")
    return "\n".join(parts) or "(the logs are empty: " + ", ".join(map(str, paths)) + ")"


def split_host_port(address: str) -> tuple[str, int]:
    """``"127.0.0.1:9092"`` → ``("127.0.0.1", 9092)``; the first of a comma-separated list."""
    first = address.split(",")[0].strip()
    host, sep, port = first.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected host:port, got {address!r}")
    return host.strip("[]"), int(port)


def port_open(host: str, port: int, *, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the OS's pick)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ensure_port_free(host: str, port: int, *, wanted_by: str) -> None:
    """Raise a clear :class:`StackError` when ``host:port`` is already taken by another process."""
    if not port_open(host, port):
        return
    raise StackError(
        f"cannot start {wanted_by}: {host}:{port} is already in use by {_listener(port)}. "
        "Stop that process, or point truyvet at other ports (TRUYVET_* settings)."
    )


def _listener(port: int) -> str:
    """Who listens on ``port``, as far as this user may see."""
    try:
        for conn in psutil.net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                if conn.pid is None:
                    break
                proc = psutil.Process(conn.pid)
                return f"pid {conn.pid} ({' '.join(proc.cmdline())[:160]})"
    except psutil.Error:
        pass
    return "another process (not one this state dir started)"
