"""Error bodies: every refusal is machine-readable."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from schemas.common import WireModel


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """The body of every 4xx/5xx answer, as ``application/problem+json`` (RFC 9457)."""

    type: str = Field(description="`urn:truyvet:problem:` and the `error` code.",
                      examples=["urn:truyvet:problem:forbidden"])
    title: str = Field(description="The HTTP status's phrase, e.g. `Forbidden`.")
    status: int = Field(ge=400, le=599, description="The HTTP status code, as sent.")
    error: str = Field(description="A stable machine-readable code, e.g. `forbidden`.")
    detail: str = Field(description="What went wrong, for a person.")
    errors: list[FieldError] | list[dict[str, Any]] | None = None


class DeadLetter(WireModel):
    """A message that could not be decoded or validated, parked on ``dead-letter``."""

    source_topic: str
    partition: int = Field(ge=0)
    offset: int = Field(ge=0)
    key: str | None = None
    reason: str = Field(max_length=4000)
    payload_base64: str
    service: str
    failed_at: str
