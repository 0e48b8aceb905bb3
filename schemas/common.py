"""Field types shared by every wire model.

Times are timezone-aware on the wire, normalised to UTC and to whole seconds: a QR check-in
needs no finer resolution, and ClickHouse 18.16's ``DateTime`` holds seconds (rule: stored and
compared in UTC).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field


def _to_utc_seconds(value: datetime) -> datetime:
    try:
        in_utc = value.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:00:00+14:00 is a valid time whose UTC is in year 0 (and
        # 9999-12-31T23:59:59-14:00 one in year 10000): a bad value, refused as one.
        raise ValueError("the time is outside the years 1 to 9999 once moved to UTC") from None
    return in_utc.replace(microsecond=0)


UtcDateTime = Annotated[AwareDatetime, AfterValidator(_to_utc_seconds)]
"""An aware datetime, converted to UTC and truncated to the second."""

STORABLE_SINCE = datetime(1970, 1, 1, tzinfo=UTC)
STORABLE_UNTIL = datetime(2106, 2, 7, 6, 28, 15, tzinfo=UTC)
"""The times ClickHouse's ``DateTime`` holds (seconds since 1970 in 32 bits), first and last."""

Identifier = Annotated[
    str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
]
"""Ids chosen by clients (event, case, venue): printable, no spaces, at most 128 characters."""

Pseudonym = Annotated[str, Field(min_length=64, max_length=64, pattern=r"^[0-9a-f]{64}$")]
"""HMAC-SHA256 of a person identifier, lower-case hex. The only person id downstream of ingest."""

RawPersonId = Annotated[str, Field(min_length=3, max_length=128, pattern=r"^[^\x00-\x1f]+$")]
"""What a venue's scanner read (personal code, phone number). Never leaves ingest."""

ShortText = Annotated[str, Field(min_length=1, max_length=200)]


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class Op(StrEnum):
    """Whether an event asserts a derived fact or takes it back (rule 4, rule 8)."""

    UPSERT = "upsert"
    RETRACT = "retract"


class WireModel(BaseModel):
    """Base of every wire model: unknown fields are refused, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)
