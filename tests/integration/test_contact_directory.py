"""The directory and follow-up reads on ClickHouse 18.16 (the test stack's server): the newest
sealed copy per pseudonym, the horizon purge, follow-up states and history, the funnel."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.alerts.queries import ClickHouseReads, FollowUpChange
from services.alerts.worker.store import AlertStore
from services.core.clickhouse import clickhouse_client
from services.core.config import Settings
from tests.support.processes import wait_for
from tests.support.stack import isolated_settings

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def reads(stack: Settings, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[Settings, ClickHouseReads]]:
    settings = isolated_settings(stack, Path(tmp_path_factory.mktemp("directory")))
    reads = ClickHouseReads(clickhouse_client(settings))
    yield settings, reads
    reads.close()


def test_the_newest_sealed_copy_is_read_and_the_horizon_purges_older_ones(
    reads: tuple[Settings, ClickHouseReads],
) -> None:
    settings, read = reads
    store = AlertStore(settings)
    old = NOW - timedelta(days=30)
    store.write_directory([("p1", "k" * 16, "old-box", old), ("p2", "k" * 16, "p2-box", old)])
    store.write_directory([("p1", "k" * 16, "new-box", NOW)])
    found = read.sealed_of({"p1", "p2", "p3"})
    assert {p: s.sealed for p, s in found.items()} == {"p1": "new-box", "p2": "p2-box"}
    read.purge_directory(NOW - settings.retention)
    # 18.16 runs a DELETE mutation in the background.
    wait_for(lambda: set(read.sealed_of({"p1", "p2"})) == {"p1"}, 30, "the purge", 0.2)
    assert read.sealed_of({"p1"})["p1"].sealed == "new-box"
    store.close()


def test_follow_up_states_history_and_funnel(reads: tuple[Settings, ClickHouseReads]) -> None:
    _, read = reads
    client = clickhouse_client(reads[0])
    try:
        client.execute("INSERT INTO cases (case_id, person_id, status, reported_at, version) "
                       "VALUES", [("c1", "p0", "reported", NOW, 1)])
        client.execute("INSERT INTO alerts (case_id, alert_id, person_id, degree, exposed_at, "
                       "via_person_id, venue_ids, exposures, created_at, deleted, version) VALUES",
                       [("c1", f"a{i}", f"p{i}", 1, NOW, "", ["v"], "[]", NOW, 0, 1)
                        for i in range(1, 7)])
    finally:
        client.disconnect()
    for version, (alert, state) in enumerate([("a1", "reached"), ("a1", "tested_positive"),
                                              ("a2", "reached")], start=1):
        read.record_follow_up("c1", alert, FollowUpChange(NOW, state, "", "t", "c2"
                                                          if state == "tested_positive" else ""),
                              version)
    assert read.follow_up_states("c1") == {"a1": "tested_positive", "a2": "reached"}
    assert [c.state for c in read.follow_up_history("c1", "a1")] == ["reached",
                                                                    "tested_positive"]
    assert read.follow_up_reported("c1") == {"a1": "c2"}
    assert read.follow_up_funnel(NOW - timedelta(days=1)) == {
        "new": 4, "reached": 1, "tested_positive": 1}
    assert [a.alert_id for a in read.person_alerts("p3", NOW - timedelta(days=1))] == ["a3"]
    assert read.person_cases("p0", NOW - timedelta(days=1)) == ["c1"]
    assert [a.alert_id for a in read.contact_alerts("c1")] == [f"a{i}" for i in range(1, 7)]
