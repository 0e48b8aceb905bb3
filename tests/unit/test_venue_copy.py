"""Registry records into rows of ClickHouse's ``venues`` (services/alerts/worker/venues.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from schemas.registry import Role, TokenRecord, VenueRecord
from schemas.venues import ClusterRuleIn, VenueCreate, VenueKind, VenuePublic
from services.alerts.worker.venues import venue_rows
from services.core.config import IngestSettings
from services.ingest.routes.venues import new_venue
from truyvet.registry_commands import parse_cluster_rule

CREATED = datetime(2026, 11, 23, 8, 0, 30, 500_000, tzinfo=UTC)


def venue(venue_id: str, name: str, kind: VenueKind = VenueKind.MARKET) -> bytes:
    public = VenuePublic(venue_id=venue_id, name=name, kind=kind, default_dwell_s=1800,
                         max_dwell_s=14_400, min_overlap_s=600, created_at=CREATED)
    return VenueRecord(venue=public, key_sha256="a" * 64).model_dump_json().encode()


def test_each_venue_record_is_a_row_versioned_by_its_offset() -> None:
    rows = venue_rows([(7, b"venue:cho", venue("cho", "Cho cu")),
                       (9, b"venue:cho", venue("cho", "Chợ Bến Thành")),
                       (12, b"venue:pho", venue("pho", "Phở 24", VenueKind.RESTAURANT))])
    assert rows == [
        ("cho", "Cho cu", "market", 1800, 14_400, 600, 0, 0, 0, CREATED.replace(microsecond=0),
         7),
        ("cho", "Chợ Bến Thành", "market", 1800, 14_400, 600, 0, 0, 0,
         CREATED.replace(microsecond=0), 9),
        ("pho", "Phở 24", "restaurant", 1800, 14_400, 600, 0, 0, 0,
         CREATED.replace(microsecond=0), 12),
    ]


def test_a_venues_own_cluster_rule_is_copied_and_an_absent_one_is_zeros() -> None:
    public = VenuePublic(venue_id="lab", name="Lab", kind=VenueKind.OFFICE, default_dwell_s=1800,
                         max_dwell_s=14_400, min_overlap_s=600, created_at=CREATED,
                         cluster_rule=ClusterRuleIn(min_cases=2, window_days=3,
                                                    min_presence_s=600))
    record = VenueRecord(venue=public, key_sha256="a" * 64).model_dump_json().encode()
    [row] = venue_rows([(5, b"venue:lab", record)])
    assert row[6:9] == (2, 3, 600) and row[-1] == 5
    # Registered over HTTP or by the CLI, the rule goes into the record as given.
    body = VenueCreate(name="Lab", kind=VenueKind.OFFICE,
                       cluster_rule=parse_cluster_rule("2,3,600"))
    assert new_venue(body, IngestSettings())[0].cluster_rule == public.cluster_rule
    assert new_venue(VenueCreate(name="Lab"), IngestSettings())[0].cluster_rule is None
    with pytest.raises(ValueError, match="CASES,DAYS"):
        parse_cluster_rule("2")
    with pytest.raises(ValidationError, match="min_cases"):
        parse_cluster_rule("1,7")


def test_tokens_tombstones_and_unreadable_records_are_not_venues() -> None:
    token = TokenRecord(token_sha256="b" * 64, role=Role.DASHBOARD, created_at=CREATED)
    rows = venue_rows([(1, b"token:" + b"b" * 64, token.model_dump_json().encode()),
                       (2, b"venue:gone", None),
                       (3, b"venue:odd", b'{"type": "venue", "venue": {}}'),
                       (4, b"venue:cho", venue("cho", "Cho cu"))])
    assert [(row[0], row[-1]) for row in rows] == [("cho", 4)]
