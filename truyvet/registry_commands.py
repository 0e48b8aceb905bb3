"""``truyvet venue …`` and ``truyvet token …``: read and write the registry topic directly.

Every service follows that topic, so what these write (a new venue, a revoked token, a rotated
key) holds on every replica within about a second, with nothing to restart.
"""

from __future__ import annotations

import re
from datetime import timedelta

from pydantic import ValidationError

from schemas.registry import Role, TokenRecord, VenueRecord
from schemas.venues import ClusterRuleIn, VenueCreate, VenueKind, VenuePublic
from services.core.config import IngestSettings, Settings
from services.core.registry_log import publish_records_blocking, read_registry_blocking
from services.core.secrets import QrSigner, new_secret, sha256_hex
from services.core.tokens import issue_token
from services.ingest.routes.venues import new_venue
from truyvet.messages import validation_lines


class CommandError(RuntimeError):
    """A refusal to print for the operator (exit code 2)."""


def parse_cluster_rule(text: str | None) -> ClusterRuleIn | None:
    """``"3,7"`` or ``"3,7,600"`` as a venue's cluster rule; ``None`` stays ``None``.

    Example:
        >>> parse_cluster_rule("2,5,600")
        ClusterRuleIn(min_cases=2, window_days=5, min_presence_s=600)
    """
    if text is None:
        return None
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (2, 3) or not all(p.isdigit() for p in parts):
        raise ValueError(f"--cluster-rule takes CASES,DAYS[,PRESENCE_S] (numbers), not {text!r}")
    names = ("min_cases", "window_days", "min_presence_s")
    return ClusterRuleIn.model_validate(dict(zip(names, map(int, parts), strict=False)))


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
    cluster_rule: str | None = None,
) -> dict[str, str]:
    """Register a venue; returns its id, API key (shown once) and signed QR payload.

    ``cluster_rule`` is ``"CASES,DAYS"`` or ``"CASES,DAYS,PRESENCE_S"`` (rule 12)."""
    try:
        body = VenueCreate(
            name=name,
            kind=VenueKind(kind),
            venue_id=venue_id,
            address=address,
            default_dwell_s=default_dwell_s,
            max_dwell_s=max_dwell_s,
            min_overlap_s=min_overlap_s,
            cluster_rule=parse_cluster_rule(cluster_rule),
        )
        venue, api_key = new_venue(body, settings)
    except ValidationError as exc:
        raise CommandError("; ".join(validation_lines(exc))) from exc
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


def rotate_venue_key(settings: Settings, venue_id: str) -> str:
    """Give a venue a new API key (returned, shown once); the old key stops working."""
    record = read_registry_blocking(settings).venue_record(venue_id)
    if record is None:
        raise CommandError(f"no venue {venue_id!r}")
    api_key = new_secret("tvk")
    rotated = record.model_copy(update={"key_sha256": sha256_hex(api_key)})
    publish_records_blocking(settings, [rotated])
    return api_key


def add_token(
    settings: Settings, *, role: str, label: str | None = None, expires_in: str | None = None
) -> str:
    """Issue a token for ``role``, valid for ``expires_in`` (``90m``, ``12h``, ``30d``) or
    until revoked; only its hash is written."""
    try:
        lifetime = parse_duration(expires_in) if expires_in is not None else None
        token, record = issue_token(Role(role), label, lifetime)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    publish_records_blocking(settings, [record])
    return token


def list_venues(settings: Settings) -> list[VenuePublic]:
    """Every registered venue, by id."""
    return sorted(read_registry_blocking(settings).venues(), key=lambda venue: venue.venue_id)


def list_tokens(settings: Settings) -> list[TokenRecord]:
    return read_registry_blocking(settings).tokens()


def revoke_token(settings: Settings, token_id: str) -> TokenRecord:
    """Revoke the token whose id (``truyvet token list``) starts with ``token_id``."""
    if len(token_id) < 6:
        raise CommandError("name the token by at least 6 characters of its id")
    matches = [t for t in list_tokens(settings) if t.token_sha256.startswith(token_id.lower())]
    if len(matches) != 1:
        raise CommandError(f"{len(matches)} tokens have an id starting with {token_id!r}")
    revoked = matches[0].model_copy(update={"revoked": True})
    publish_records_blocking(settings, [revoked])
    return revoked


_DURATION = re.compile(r"^([1-9][0-9]{0,5})([mhd])$")
_UNIT = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}


def parse_duration(text: str) -> timedelta:
    """``90m``, ``12h`` or ``30d`` as a :class:`timedelta`.

    Example:
        >>> parse_duration("30d")
        datetime.timedelta(days=30)
    """
    found = _DURATION.match(text.strip())
    if found is None:
        raise ValueError(f"{text!r} is not a duration like 90m, 12h or 30d")
    return int(found[1]) * _UNIT[found[2]]
