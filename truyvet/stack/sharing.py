"""Kafka and ClickHouse shared by several test sessions on one machine.

Several people (or an editor's test runner and a terminal) run pytest in the same checkout at the
same time, all against the one test stack in ``.truyvet-test/``. A session that simply stopped
"its" stack at the end would pull it from under the others, so each session registers itself
while it uses the stack, and the stack is stopped when the last session leaves — and only if a
test session started it (a stack someone started by hand, or kept with ``keep=True``, stays up).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from services.core.config import Settings
from truyvet.stack import clickhouse, kafka
from truyvet.stack.layout import StateLayout
from truyvet.stack.lifecycle import Progress, start_infrastructure
from truyvet.stack.processes import is_alive

_PARTS = {"kafka": kafka, "clickhouse": clickhouse}


def _quiet(_: str) -> None:
    return None


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes, even if we crash
        yield


@contextlib.contextmanager
def shared_infrastructure(
    settings: Settings, *, keep: bool = False, progress: Progress = _quiet
) -> Iterator[Settings]:
    """Kafka and ClickHouse of ``settings`` running for the duration of the block.

    Started unless already running (and healthy); stopped on leaving when this or another session
    started them, no other live session still uses them, and ``keep`` is false.
    """
    run = StateLayout.of(settings).run_dir
    lock, owned, users = run / "sharing.lock", run / "started-by-tests", run / "test-sessions"
    me = users / str(os.getpid())
    with _lock(lock):
        running_before = {name for name, part in _PARTS.items() if part.process(settings).pid()}
        try:
            started = start_infrastructure(settings, progress)
        except BaseException:
            # Half a stack (Kafka up, ClickHouse failed) would outlive the failed session.
            for name, part in _PARTS.items():
                if name not in running_before and not keep:
                    part.stop(settings)
            raise
        if started and not keep:
            # With the pids: a part restarted by hand since then is not the tests' to stop.
            pids = _read_owned(owned)
            pids.update({name: str(_PARTS[name].process(settings).pid()) for name in started})
            owned.write_text("".join(f"{name} {pid}\n" for name, pid in pids.items()))
        users.mkdir(parents=True, exist_ok=True)
        me.touch()
    try:
        yield settings
    finally:
        with _lock(lock):
            me.unlink(missing_ok=True)
            for session in users.iterdir():
                if not _session_alive(session):  # a session that crashed without leaving
                    session.unlink(missing_ok=True)
            if not keep and owned.exists() and not any(users.iterdir()):
                started_pids = _read_owned(owned)
                for name, part in _PARTS.items():  # kafka first, like `truyvet down`
                    if started_pids.get(name) == str(part.process(settings).pid()):
                        part.stop(settings)
                owned.unlink()


def _session_alive(path: Path) -> bool:
    try:
        return is_alive(int(path.name))
    except ValueError:
        return False


def _read_owned(path: Path) -> dict[str, str]:
    """``{part: pid}`` of the parts test sessions started ({} when there is no record)."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return {}
    return dict(line.split(maxsplit=1) for line in lines if " " in line)
