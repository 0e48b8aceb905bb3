"""Revocation, expiry and key rotation as the registry view folds them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from schemas.common import utc_now
from schemas.registry import Role, VenueRecord
from schemas.venues import VenueKind, VenuePublic
from services.core.registry import RegistryView
from services.core.secrets import sha256_hex
from services.core.tokens import issue_token
from truyvet.registry_commands import parse_duration


def test_a_revoked_record_replaces_the_valid_one() -> None:
    view = RegistryView()
    token, record = issue_token(Role.AUTHORITY, "desk 4")
    view.put(record)
    assert view.role_for_token(token) is Role.AUTHORITY
    view.put(record.model_copy(update={"revoked": True}))
    assert view.role_for_token(token) is None
    assert [t.revoked for t in view.tokens()] == [True]


def test_a_token_is_refused_from_its_expiry_on() -> None:
    view = RegistryView()
    token, record = issue_token(Role.DASHBOARD, expires_in=timedelta(hours=1))
    view.put(record)
    assert view.role_for_token(token) is Role.DASHBOARD
    view.put(record.model_copy(update={"expires_at": utc_now() - timedelta(seconds=1)}))
    assert view.role_for_token(token) is None
    assert not view.has_role(Role.DASHBOARD)


def test_a_rotated_key_replaces_the_old_one() -> None:
    view = RegistryView()
    venue = VenuePublic(venue_id="cafe-9", name="Cafe", kind=VenueKind.RESTAURANT,
                        default_dwell_s=3600, max_dwell_s=43_200, min_overlap_s=900,
                        created_at=utc_now())
    view.put(VenueRecord(venue=venue, key_sha256=sha256_hex("old-key")))
    view.put(VenueRecord(venue=venue, key_sha256=sha256_hex("new-key")))
    assert view.venue_for_api_key("old-key") is None
    assert view.venue_for_api_key("new-key") == venue


@pytest.mark.parametrize("text", ["0d", "-1h", "12", "1w", "1000000d", "h"])
def test_durations_are_positive_minutes_hours_or_days(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)
    assert parse_duration("90m") == timedelta(minutes=90)
    with pytest.raises(ValueError, match="must be positive"):
        issue_token(Role.ADMIN, expires_in=timedelta(0))
