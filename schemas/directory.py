"""The sealed contact directory (``directory`` topic, compacted by pseudonym; ClickHouse
``directory``): a person's raw identifier, sealed to the health authority's public key."""

from __future__ import annotations

from pydantic import Field

from schemas.common import Pseudonym, UtcDateTime, WireModel


class DirectoryEntry(WireModel):
    """One pseudonym's identifier in a libsodium sealed box only the authority's key opens."""

    pseudonym: Pseudonym
    key_id: str = Field(min_length=16, max_length=16, pattern=r"^[0-9a-f]{16}$",
                        description="Fingerprint of the public key it is sealed to.")
    sealed: str = Field(min_length=1, max_length=1024, pattern=r"^[A-Za-z0-9_=-]+$",
                        description="The normalised identifier (rule 13) in a sealed box, "
                        "URL-safe base64.")
    sealed_at: UtcDateTime
