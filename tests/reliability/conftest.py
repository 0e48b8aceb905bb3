"""The reliability suite's own Kafka and ClickHouse, for the tests that break them.

The shared test stack (``.truyvet-test/``) serves other test sessions at the same time, so a
test that stops the broker or ClickHouse must never touch it. ``faults_stack`` starts a stack
of this session's own in ``.truyvet-faults/<pid>/`` on free ports, lets the destructive tests
stop and restart its parts, and stops it (and deletes its folder) when the session ends. A
folder left behind by a session that was killed is cleaned up by the next one.
``brokers_stack`` does the same for a three-broker Kafka cluster in
``.truyvet-faults/<pid>-brokers/`` (the tests marked ``brokers``: ``make test-brokers``).
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


def faults_settings(state_dir: Path, *, brokers: int = 1) -> IngestSettings:
    from truyvet.stack import kafka
    from truyvet.stack.credentials import with_local_secrets

    return kafka.with_cluster(with_local_secrets(IngestSettings(
        state_dir=state_dir,
        kafka_brokers=brokers,
        kafka_bootstrap=",".join(f"127.0.0.1:{free_port()}" for _ in range(brokers)),
        kafka_controller_port=free_controller_ports(brokers),
        kafka_heap="512m" if brokers == 1 else "384m",
        clickhouse_host="127.0.0.1",
        clickhouse_port=free_port(),
        clickhouse_http_port=free_port(),
        clickhouse_database="truyvet_faults",
        topic_prefix="",
    ), create=True))


def free_controller_ports(brokers: int) -> int:
    """A free port from which the next ``brokers - 1`` every ``PORT_STEP`` are free too: broker
    k's controller listens on the first + PORT_STEP * k."""
    from truyvet.stack.kafka import LISTEN_HOST, PORT_STEP
    from truyvet.stack.processes import port_open

    for _ in range(100):
        first = free_port()
        rest = [first + PORT_STEP * k for k in range(1, brokers)]
        if all(port <= 65_535 and not port_open(LISTEN_HOST, port) for port in rest):
            return first
    raise RuntimeError(f"no run of {brokers} free controller ports found")


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
        owner = folder.name.split("-")[0]  # <pid>, or <pid>-brokers for a cluster
        if folder.is_dir() and owner.isdigit() and not is_alive(int(owner)):
            # Only the pids of that folder's pid files (every broker its storage was made for).
            _stop_parts(faults_settings(folder))
            shutil.rmtree(folder, ignore_errors=True)


def _own_stack(settings: Settings) -> Iterator[Settings]:
    """Start Kafka and ClickHouse of ``settings`` (after cleaning up abandoned stacks), yield
    ``settings``, then stop both and delete their state."""
    from truyvet.stack import clickhouse, kafka

    _clean_abandoned_stacks()
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


@pytest.fixture(scope="session")
def faults_stack() -> Iterator[Settings]:
    """Kafka and ClickHouse of this session alone: tests may stop and restart them."""
    yield from _own_stack(faults_settings(FAULTS_DIR / str(os.getpid())))


@pytest.fixture(scope="session")
def brokers_stack() -> Iterator[Settings]:
    """A three-broker Kafka cluster and a ClickHouse of this session alone (``make
    test-brokers``): tests may kill and restart brokers."""
    yield from _own_stack(faults_settings(FAULTS_DIR / f"{os.getpid()}-brokers", brokers=3))
