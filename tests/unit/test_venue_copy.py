"""Registry records into rows of ClickHouse's ``venues`` (services/alerts/worker/venues.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from schemas.registry import Role, TokenRecord, VenueRecord
from schemas.venues import VenueKind, VenuePublic
from services.alerts.worker.venues import venue_rows

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
        ("cho", "Cho cu", "market", 1800, 14_400, 600, CREATED.replace(microsecond=0), 7),
        ("cho", "Chợ Bến Thành", "market", 1800, 14_400, 600, CREATED.replace(microsecond=0), 9),
        ("pho", "Phở 24", "restaurant", 1800, 14_400, 600, CREATED.replace(microsecond=0), 12),
    ]


def test_tokens_tombstones_and_unreadable_records_are_not_venues() -> None:
    token = TokenRecord(token_sha256="b" * 64, role=Role.DASHBOARD, created_at=CREATED)
    rows = venue_rows([(1, b"token:" + b"b" * 64, token.model_dump_json().encode()),
                       (2, b"venue:gone", None),
                       (3, b"venue:odd", b'{"type": "venue", "venue": {}}'),
                       (4, b"venue:cho", venue("cho", "Cho cu"))])
    assert [(row[0], row[-1]) for row in rows] == [("cho", 4)]
