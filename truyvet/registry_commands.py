"""``truyvet venue add`` and ``truyvet token add``: write to the registry topic directly."""

from __future__ import annotations

from schemas.registry import Role, VenueRecord
from schemas.venues import VenueCreate, VenueKind
from services.core.config import IngestSettings, Settings
from services.core.registry_log import publish_records_blocking, read_registry_blocking
from services.core.secrets import QrSigner, sha256_hex
from services.core.tokens import issue_token
from services.ingest.routes.venues import new_venue


class CommandError(RuntimeError):
    """A refusal to print for the operator (exit code 2)."""


def add_venue(
    settings: IngestSettings,
    *,
    name: str,
    kind: str = "other",
    venue_id: str | None = None,
    address: str | None = None,
    default_dwell_s: int | None = None,
    max_dwell_s: int | None = None,
    min_overlap_s: int | None = None,
) -> dict[str, str]:
    """Register a venue; returns its id, API key (shown once) and signed QR payload."""
    try:
        body = VenueCreate(
            name=name,
            kind=VenueKind(kind),
            venue_id=venue_id,
            address=address,
            default_dwell_s=default_dwell_s,
            max_dwell_s=max_dwell_s,
            min_overlap_s=min_overlap_s,
        )
        venue, api_key = new_venue(body, settings)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    if venue_id is not None and read_registry_blocking(settings).venue(venue_id) is not None:
        raise CommandError(f"venue {venue_id!r} already exists")
    publish_records_blocking(settings, [VenueRecord(venue=venue, key_sha256=sha256_hex(api_key))])
    return {
        "venue_id": venue.venue_id,
        "api_key": api_key,
        "qr_payload": QrSigner(settings.qr_secret).payload(venue.venue_id),
    }


def add_token(settings: Settings, *, role: str, label: str | None = None) -> str:
    """Issue a token for ``role``; only its hash is written."""
    try:
        token, record = issue_token(Role(role), label)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    publish_records_blocking(settings, [record])
    return token
