"""Records of the compacted ``registry`` topic: venues and access tokens, secrets hashed."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from schemas.common import ShortText, WireModel
from schemas.venues import VenuePublic

Sha256Hex = str


class Role(StrEnum):
    ADMIN = "admin"
    VENUE = "venue"
    AUTHORITY = "authority"
    DASHBOARD = "dashboard"
    NOTIFIER = "notifier"


class VenueRecord(WireModel):
    """Key ``venue:<venue_id>``."""

    type: Literal["venue"] = "venue"
    venue: VenuePublic
    key_sha256: Sha256Hex = Field(pattern=r"^[0-9a-f]{64}$")


class TokenRecord(WireModel):
    """Key ``token:<token_sha256>``. The token itself is never stored."""

    type: Literal["token"] = "token"
    token_sha256: Sha256Hex = Field(pattern=r"^[0-9a-f]{64}$")
    role: Role
    label: ShortText | None = None
    created_at: datetime
    revoked: bool = False


RegistryRecord = VenueRecord | TokenRecord
