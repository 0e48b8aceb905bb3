"""Venues: registration over HTTP and the public view of one."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Self

from pydantic import Field, model_validator

from schemas.common import Identifier, ShortText, WireModel

# The longest stay (rule 2's max dwell) any venue may set: readers bound their searches by it.
MAX_DWELL_LIMIT_S = 7 * 86_400


class VenueKind(StrEnum):
    OFFICE = "office"
    MARKET = "market"
    SCHOOL = "school"
    CLINIC = "clinic"
    RESTAURANT = "restaurant"
    FACTORY = "factory"
    SHOP = "shop"
    OTHER = "other"


class VenueRulesIn(WireModel):
    """Per-venue overrides of the domain defaults (rule 2, rule 3); ``None`` keeps the default."""

    default_dwell_s: int | None = Field(default=None, ge=60, le=86_400)
    max_dwell_s: int | None = Field(default=None, ge=60, le=MAX_DWELL_LIMIT_S)
    min_overlap_s: int | None = Field(default=None, ge=1, le=86_400)


class VenueCreate(VenueRulesIn):
    """``POST /v1/venues`` body."""

    name: ShortText
    kind: VenueKind = VenueKind.OTHER
    address: ShortText | None = None
    venue_id: Identifier | None = Field(
        default=None, description="Chosen by the registrar; generated when absent."
    )


class VenuePublic(WireModel):
    """A venue as anyone allowed to read it sees it: effective rules, no secrets."""

    venue_id: Identifier
    name: ShortText
    kind: VenueKind
    address: ShortText | None = None
    default_dwell_s: int
    max_dwell_s: int
    min_overlap_s: int
    created_at: datetime

    @model_validator(mode="after")
    def _dwell_within_max(self) -> Self:
        if self.default_dwell_s > self.max_dwell_s:
            raise ValueError("default_dwell_s cannot exceed max_dwell_s")
        return self


class VenueCreated(VenuePublic):
    """The answer to a registration: the only time the API key is ever shown."""

    api_key: str
    qr_payload: str
