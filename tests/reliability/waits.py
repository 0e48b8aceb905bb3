"""Waiting on the pipeline while its workers must stay up."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from tests.support.processes import ServiceProcess

T = TypeVar("T")


def wait_while_running(
    condition: Callable[[], T], timeout_s: float, what: str,
    processes: Iterable[ServiceProcess], every_s: float = 0.5,
) -> T:
    """Poll ``condition`` until truthy; fail at once, with its log, if a process has exited.

    An exception from ``condition`` counts as "not yet" (a store still restarting).
    """
    watched = list(processes)
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        for process in watched:
            if not process.alive():
                raise AssertionError(
                    f"{process.module} exited (code {process.proc.returncode}) while waiting "
                    f"for {what}:\n{process.log_tail(60)}"
                )
        try:
            result = condition()
        except Exception as exc:
            last_error = exc
        else:
            if result:
                return result
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}; "
                         f"last error: {last_error!r}")
