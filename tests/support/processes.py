"""Running the project's services as real processes in tests, and waiting on conditions."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import httpx

from services.core.config import Settings
from truyvet.stack.processes import free_port as free_port  # tests import it from here
from truyvet.stack.services import settings_for

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout_s: float, what: str, every_s: float = 0.1) -> T:
    """Poll ``condition`` until it returns something truthy; fail with ``what`` on timeout."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = condition()
        except Exception as exc:  # the condition may fail while the thing is still starting
            last_error = exc
        else:
            if result:
                return result
        time.sleep(every_s)
    raise AssertionError(
        f"timed out after {timeout_s}s waiting for {what}; last error: {last_error!r}"
    )


class ServiceProcess:
    """A project service started with ``python -m <module>`` and the given settings."""

    def __init__(self, module: str, settings: Settings, log_path: Path) -> None:
        self.module = module
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = log_path.open("ab")
        # As `truyvet up` starts it: only ingest holds the pseudonym and QR keys.
        env = {**os.environ, **settings_for(module, settings).as_env()}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive():
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()


@contextmanager
def running_http_service(
    module: str, settings: Settings, base_url: str, log_path: Path, timeout_s: float = 60
) -> Iterator[ServiceProcess]:
    service = ServiceProcess(module, settings, log_path)
    try:

        def healthy() -> bool:
            if not service.alive():
                raise AssertionError(f"{module} exited:\n{service.log_tail()}")
            return httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200

        try:
            wait_for(healthy, timeout_s, f"{module} to answer /healthz")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- {module} log ---\n{service.log_tail()}") from exc
        yield service
    finally:
        service.stop()
