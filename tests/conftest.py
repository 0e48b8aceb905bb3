"""Session-wide fixtures: the real Kafka and ClickHouse of the test stack.

Only tests that ask for ``stack`` or ``settings`` (directly or through another fixture) start
anything; tests/unit never do. The test stack lives in ``.truyvet-test/`` on ports of its own, so
it runs next to a development stack (``truyvet up``) without a clash. It is shared with any other
pytest session running at the same time and stopped when the last one ends, if a test session
started it; ``TRUYVET_TEST_KEEP_STACK=1`` keeps it up for fast local iteration (stop it with
``TRUYVET_STATE_DIR=.truyvet-test truyvet down``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.core.config import IngestSettings, Settings
from services.core.kafka_connection import kafka_options

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_STATE_DIR = REPO_ROOT / ".truyvet-test"
_STACK_FIXTURES = {"stack", "settings"}


def stack_settings() -> IngestSettings:
    """The test stack's settings: its own state dir and ports, whatever the environment says.

    ``TRUYVET_TEST_PORT_OFFSET`` shifts every port, so two checkouts can test side by side.
    """
    offset = int(os.environ.get("TRUYVET_TEST_PORT_OFFSET", "0"))
    return IngestSettings(
        state_dir=TEST_STATE_DIR,
        kafka_bootstrap=f"127.0.0.1:{19092 + offset}",
        kafka_controller_port=19093 + offset,
        clickhouse_host="127.0.0.1",
        clickhouse_port=19000 + offset,
        clickhouse_http_port=18123 + offset,
        clickhouse_database="truyvet_test",
        ingest_port=18000,
        alerts_port=18001,
        topic_prefix="",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Whatever uses the real stack is an integration test, marked or not, so that
    # `pytest -m "not integration"` never starts Kafka or ClickHouse.
    for item in items:
        if _STACK_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def stack() -> Iterator[Settings]:
    """Settings pointing at the running test stack (Kafka + ClickHouse), started if needed."""
    from tests.support.stack import ISOLATED
    from truyvet.stack.sharing import shared_infrastructure  # unit-test runs never import it

    keep = os.environ.get("TRUYVET_TEST_KEEP_STACK") == "1"
    with shared_infrastructure(stack_settings(), keep=keep) as settings:
        yield settings
        # Those no test dropped itself; the ones on a stack of their own (tests/reliability)
        # go with that stack. All in one request each: one by one, they took over a minute.
        left = [s for s in ISOLATED if s.kafka_bootstrap == settings.kafka_bootstrap]
        try:
            _drop_stores(*left)
        except Exception as exc:  # best effort: the results of the session stand
            print(f"could not drop the stores of {len(left)} test modules: {exc!r}")


@pytest.fixture
def settings(stack: Settings) -> Iterator[Settings]:
    """Settings of the test stack with a topic prefix and database of this test's own.

    The topics exist and the migrations are applied; both are removed again afterwards.
    """
    from truyvet.stack.lifecycle import prepare_stores

    tag = uuid.uuid4().hex[:12]
    isolated = stack.model_copy(
        update={"topic_prefix": f"t{tag}-", "clickhouse_database": f"test_{tag}"}
    )
    prepare_stores(isolated)
    yield isolated
    _drop_stores(isolated)


def _drop_stores(*stores: Settings) -> None:
    """Delete these tests' topics (the workers' internal ones too) and databases, so the test
    stack does not grow without end. They share one stack: one listing, one delete request."""
    from kafka.admin import KafkaAdminClient

    from tests.support.stack import ISOLATED
    from truyvet.stack import clickhouse

    if not stores:
        return
    for settings in stores:
        assert settings.topic_prefix, "only a test's own prefixed topics are ever deleted"
        if settings in ISOLATED:  # dropped here: the session's final sweep leaves it alone
            ISOLATED.remove(settings)
    prefixes = tuple(settings.topic_prefix for settings in stores)
    admin = KafkaAdminClient(**kafka_options(stores[0]), request_timeout_ms=30_000)
    try:
        topics = [t for t in admin.list_topics() if t.startswith(prefixes)]
        if topics:
            admin.delete_topics(sorted(topics), timeout_ms=30_000)
    finally:
        admin.close()
    clickhouse.drop_databases(stores[0], [settings.clickhouse_database for settings in stores])
