"""The venue and token registry as an in-memory view of the compacted ``registry`` topic.

Every ingest replica, the tracer and the CLI fold the same records into this view, so they agree
on venues (and their rules) and on who may do what without a shared database.
"""

from __future__ import annotations

from pydantic import TypeAdapter, ValidationError

from schemas.common import utc_now
from schemas.registry import RegistryRecord, Role, TokenRecord, VenueRecord
from schemas.venues import VenuePublic
from services.core.secrets import sha256_hex

_RECORD = TypeAdapter[RegistryRecord](RegistryRecord)


def venue_key(venue_id: str) -> bytes:
    return f"venue:{venue_id}".encode()


def token_key(token_sha256: str) -> bytes:
    return f"token:{token_sha256}".encode()


def record_key(record: VenueRecord | TokenRecord) -> bytes:
    if isinstance(record, VenueRecord):
        return venue_key(record.venue.venue_id)
    return token_key(record.token_sha256)


class RegistryView:
    """Venues and tokens folded from registry records; later records replace earlier ones."""

    def __init__(self) -> None:
        self._venues: dict[str, VenueRecord] = {}
        self._venue_by_key_hash: dict[str, str] = {}
        self._tokens: dict[str, TokenRecord] = {}
        self.skipped = 0

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Fold one topic record in. A tombstone (``None`` value) removes its entry."""
        if key is None:
            self.skipped += 1
            return
        if value is None:
            self._forget(key.decode(errors="replace"))
            return
        try:
            record = _RECORD.validate_json(value)
        except ValidationError:
            # A record this version cannot read must not take the registry down; it is counted.
            self.skipped += 1
            return
        self.put(record)

    def put(self, record: VenueRecord | TokenRecord) -> None:
        if isinstance(record, VenueRecord):
            previous = self._venues.get(record.venue.venue_id)
            if previous is not None:
                self._venue_by_key_hash.pop(previous.key_sha256, None)
            self._venues[record.venue.venue_id] = record
            self._venue_by_key_hash[record.key_sha256] = record.venue.venue_id
        else:
            self._tokens[record.token_sha256] = record

    def _forget(self, key: str) -> None:
        kind, _, ident = key.partition(":")
        if kind == "venue" and (venue := self._venues.pop(ident, None)) is not None:
            self._venue_by_key_hash.pop(venue.key_sha256, None)
        elif kind == "token":
            self._tokens.pop(ident, None)

    def venue(self, venue_id: str) -> VenuePublic | None:
        record = self._venues.get(venue_id)
        return record.venue if record else None

    def venues(self) -> list[VenuePublic]:
        return [record.venue for record in self._venues.values()]

    def venue_for_api_key(self, api_key: str) -> VenuePublic | None:
        return self.venue_for_key_hash(sha256_hex(api_key))

    def venue_record(self, venue_id: str) -> VenueRecord | None:
        return self._venues.get(venue_id)

    def venue_for_key_hash(self, key_sha256: str) -> VenuePublic | None:
        venue_id = self._venue_by_key_hash.get(key_sha256)
        return self.venue(venue_id) if venue_id else None

    def role_for_token(self, token: str) -> Role | None:
        return self.role_for_token_hash(sha256_hex(token))

    def role_for_token_hash(self, token_sha256: str) -> Role | None:
        """The role of a valid token (not revoked, not expired), else ``None``."""
        record = self._tokens.get(token_sha256)
        if record is None or not record.valid_at(utc_now()):
            return None
        return record.role

    def tokens(self) -> list[TokenRecord]:
        """Every token record, the revoked and expired ones too, oldest first."""
        return sorted(self._tokens.values(), key=lambda t: (t.created_at, t.token_sha256))

    def has_role(self, role: Role) -> bool:
        now = utc_now()
        return any(t.role == role and t.valid_at(now) for t in self._tokens.values())
