"""Clusters (rule 12): several open cases present at one venue within days, on ``clusters``."""

from __future__ import annotations

from pydantic import Field

from schemas.common import Identifier, Op, UtcDateTime, WireModel


class ClusterMessage(WireModel):
    """A cluster found (``upsert``: new, grown or shrunk) or dissolved (``retract``), keyed by
    ``venue_id``; ``cluster_id`` stays the same while the cluster changes."""

    op: Op = Op.UPSERT
    cluster_id: str = Field(min_length=1, max_length=64)
    venue_id: Identifier
    venue_kind: str = Field(max_length=32)
    start: UtcDateTime = Field(description="The first of the cases' visits there.")
    end: UtcDateTime = Field(description="The start of the last of them.")
    case_ids: list[Identifier]
    visitors: int = Field(ge=0, description="People with a visit there in the window, cases "
                                            "included: who a confirmed cluster would alert.")
    min_cases: int = Field(ge=2)
    window_days: int = Field(ge=1)
    detected_at: UtcDateTime
