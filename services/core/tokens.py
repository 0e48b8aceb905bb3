"""Issuing access tokens: the secret goes to the caller once, only its hash is recorded."""

from __future__ import annotations

from datetime import timedelta

from schemas.common import utc_now
from schemas.registry import Role, TokenRecord
from services.core.secrets import new_secret, sha256_hex

ISSUABLE_ROLES = (Role.ADMIN, Role.AUTHORITY, Role.DASHBOARD, Role.NOTIFIER)


def issue_token(
    role: Role, label: str | None = None, expires_in: timedelta | None = None
) -> tuple[str, TokenRecord]:
    """A new token for ``role`` (valid for ``expires_in``, or until revoked) and the registry
    record that makes it valid.

    Example:
        >>> token, record = issue_token(Role.DASHBOARD, "wall screen")
        >>> token.startswith("tvt_") and record.token_sha256 != token
        True
    """
    if role not in ISSUABLE_ROLES:
        raise ValueError(
            f"tokens are for {', '.join(r.value for r in ISSUABLE_ROLES)}; venues get API keys"
        )
    if expires_in is not None and expires_in <= timedelta(0):
        raise ValueError("a token must be valid for some time: expires_in must be positive")
    token, now = new_secret("tvt"), utc_now()
    return token, TokenRecord(
        token_sha256=sha256_hex(token), role=role, label=label, created_at=now,
        expires_at=now + expires_in if expires_in is not None else None,
    )
