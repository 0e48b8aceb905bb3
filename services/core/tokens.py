"""Issuing access tokens: the secret goes to the caller once, only its hash is recorded."""

from __future__ import annotations

from schemas.common import utc_now
from schemas.registry import Role, TokenRecord
from services.core.secrets import new_secret, sha256_hex

ISSUABLE_ROLES = (Role.ADMIN, Role.AUTHORITY, Role.DASHBOARD, Role.NOTIFIER)


def issue_token(role: Role, label: str | None = None) -> tuple[str, TokenRecord]:
    """A new token for ``role`` and the registry record that makes it valid.

    Example:
        >>> token, record = issue_token(Role.DASHBOARD, "wall screen")
        >>> token.startswith("tvt_") and record.token_sha256 != token
        True
    """
    if role not in ISSUABLE_ROLES:
        raise ValueError(
            f"tokens are for {', '.join(r.value for r in ISSUABLE_ROLES)}; venues get API keys"
        )
    token = new_secret("tvt")
    return token, TokenRecord(
        token_sha256=sha256_hex(token), role=role, label=label, created_at=utc_now()
    )
