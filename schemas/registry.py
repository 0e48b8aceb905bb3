"""Records of the compacted ``registry`` topic: venues and access tokens, secrets hashed."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from schemas.common import ShortText, UtcDateTime, WireModel
from schemas.venues import VenuePublic

Sha256Hex = str
TOKEN_ID_CHARS = 12


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
    """Key ``token:<token_sha256>``. The token itself is never stored.

    A later record of the same key replaces the earlier one: revoking a token is writing its
    record again with ``revoked`` set. From ``expires_at`` on the token is refused.
    """

    type: Literal["token"] = "token"
    token_sha256: Sha256Hex = Field(pattern=r"^[0-9a-f]{64}$")
    role: Role
    label: ShortText | None = None
    created_at: datetime
    revoked: bool = False
    expires_at: UtcDateTime | None = None

    @property
    def token_id(self) -> str:
        """How operators name the token (``truyvet token list``, ``revoke``): the start of its
        hash, which says nothing about the token itself."""
        return self.token_sha256[:TOKEN_ID_CHARS]

    def valid_at(self, now: datetime) -> bool:
        return not self.revoked and (self.expires_at is None or now < self.expires_at)


RegistryRecord = VenueRecord | TokenRecord
