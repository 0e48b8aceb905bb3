"""ClickHouse's ``venues`` is the registry's copy, written by the alerts worker.

Venue records go to the ``registry`` topic the way the CLI and ingest write them; the worker
copies each one, with its offset as version, so ``venue_names`` (what the dashboard and Grafana
show) gives every venue's latest name. A restarted worker resumes after the newest record
stored: each record is one row, however often the worker starts.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.common import utc_now
from schemas.registry import Role, VenueRecord
from schemas.venues import VenueKind, VenuePublic
from services.core.clickhouse import clickhouse_client
from services.core.config import Settings
from services.core.registry_log import publish_records_blocking
from tests.support.kafka_read import read_topic
from tests.support.processes import ServiceProcess, wait_for
from tests.support.stack import grant

pytestmark = pytest.mark.integration


def record(venue_id: str, name: str, kind: VenueKind = VenueKind.SHOP) -> VenueRecord:
    return VenueRecord(
        venue=VenuePublic(venue_id=venue_id, name=name, kind=kind, default_dwell_s=1800,
                          max_dwell_s=14_400, min_overlap_s=600, created_at=utc_now()),
        key_sha256="0" * 64,
    )


def query(settings: Settings, sql: str) -> list[tuple]:
    client = clickhouse_client(settings)
    try:
        return client.execute(sql)
    finally:
        client.disconnect()


def names(settings: Settings) -> dict[str, tuple[str, str]]:
    rows = query(settings, "SELECT venue_id, name, kind FROM venue_names")
    return {venue_id: (name, kind) for venue_id, name, kind in rows}


def venue_offsets(settings: Settings) -> list[int]:
    return [offset for key, _, _, offset in read_topic(settings,
                                                       settings.topic("registry"))
            if key is not None and key.startswith(b"venue:")]


def test_venue_names_follow_the_registry_and_a_restart_copies_each_record_once(
    settings: Settings, tmp_path: Path
) -> None:
    grant(settings, Role.DASHBOARD)  # a token record: not a venue
    publish_records_blocking(settings, [record("cho-1", "Cho cu", VenueKind.MARKET),
                                        record("pho-24", "Phở 24", VenueKind.RESTAURANT),
                                        record("cho-1", "Chợ Bến Thành", VenueKind.MARKET)])
    worker = ServiceProcess("services.alerts.worker", settings, tmp_path / "alerts-1.log")
    try:
        wait_for(lambda: names(settings) == {"cho-1": ("Chợ Bến Thành", "market"),
                                             "pho-24": ("Phở 24", "restaurant")},
                 60, "the venue names copied from the registry", 0.5)
    finally:
        worker.stop()
    publish_records_blocking(settings, [record("pho-24", "Phở 24 Nguyễn Huệ",
                                               VenueKind.RESTAURANT)])
    worker = ServiceProcess("services.alerts.worker", settings, tmp_path / "alerts-2.log")
    try:
        wait_for(lambda: names(settings)["pho-24"] == ("Phở 24 Nguyễn Huệ", "restaurant"),
                 60, "the rename copied by the restarted worker", 0.5)
        assert worker.alive(), worker.log_tail()
    finally:
        worker.stop()
    assert names(settings)["cho-1"] == ("Chợ Bến Thành", "market")
    versions = sorted(v for (v,) in query(settings, "SELECT version FROM venues"))
    assert versions == venue_offsets(settings)  # each venue record once, versioned by offset
    assert len(versions) == 4
