"""The reliability suite's own Kafka and ClickHouse, for the tests that break them.

The shared test stack (``.truyvet-test/``) serves other test sessions at the same time, so a
test that stops the broker or ClickHouse must never touch it. ``faults_stack`` starts a stack
of this session's own in ``.truyvet-faults/<pid>/`` on free ports, lets the destructive tests
stop and restart its parts, and stops it (and deletes its folder) when the session ends. A
folder left behind by a session that was killed is cleaned up by the next one.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from services.core.config import IngestSettings, Settings
from tests.support.processes import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
FAULTS_DIR = REPO_ROOT / ".truyvet-faults"


def faults_settings(state_dir: Path) -> IngestSettings:
    from truyvet.stack.credentials import with_local_secrets

    return with_local_secrets(IngestSettings(
        state_dir=state_dir,
        kafka_bootstrap=f"127.0.0.1:{free_port()}",
        kafka_controller_port=free_port(),
        kafka_heap="512m",
        clickhouse_host="127.0.0.1",
        clickhouse_port=free_port(),
        clickhouse_http_port=free_port(),
        clickhouse_database="truyvet_faults",
        topic_prefix="",
    ), create=True)


def _stop_parts(settings: Settings) -> None:
    from truyvet.stack import clickhouse, kafka

    kafka.stop(settings)
    clickhouse.stop(settings)


def _clean_abandoned_stacks() -> None:
    """Stop and delete the stacks of sessions that died without cleaning up."""
    from truyvet.stack.processes import is_alive

    if not FAULTS_DIR.is_dir():
        return
    for folder in FAULTS_DIR.iterdir():
        if folder.is_dir() and folder.name.isdigit() and not is_alive(int(folder.name)):
            _stop_parts(faults_settings(folder))  # only the pids of that folder's pid files
            shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def faults_stack() -> Iterator[Settings]:
    """Kafka and ClickHouse of this session alone: tests may stop and restart them."""
    from truyvet.stack import clickhouse, kafka

    _clean_abandoned_stacks()
    settings = faults_settings(FAULTS_DIR / str(os.getpid()))
    kafka.ensure_jars(settings)
    try:
        # Both at once: a cold JVM and ClickHouse's start-up each take seconds on a CI runner.
        with ThreadPoolExecutor(2) as pool:
            for started in [pool.submit(part.start, settings) for part in (kafka, clickhouse)]:
                started.result()
        yield settings
    finally:
        _stop_parts(settings)
        shutil.rmtree(settings.state_dir, ignore_errors=True)
