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


class ClusterRuleIn(WireModel):
    """When the open cases present at this venue are a cluster (rule 12), in place of its
    kind's default rule (README, "Clusters")."""

    min_cases: int = Field(ge=2, le=1000, description="Distinct open cases present")
    window_days: int = Field(ge=1, le=366, description="… whose visits start within this many "
                                                       "days of each other")
    min_presence_s: int = Field(default=0, ge=0, le=86_400,
                                description="Least seconds of a visit inside the case's "
                                            "infectious window")


class VenueRulesIn(WireModel):
    """Per-venue overrides of the domain defaults (rule 2, rule 3, rule 12); ``None`` keeps the
    default."""

    default_dwell_s: int | None = Field(default=None, ge=60, le=86_400)
    max_dwell_s: int | None = Field(default=None, ge=60, le=MAX_DWELL_LIMIT_S)
    min_overlap_s: int | None = Field(default=None, ge=1, le=86_400)
    cluster_rule: ClusterRuleIn | None = Field(
        default=None, description="This venue's cluster rule; absent: its kind's default")


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
    cluster_rule: ClusterRuleIn | None = Field(
        default=None, description="This venue's own cluster rule; absent: its kind's default")
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
