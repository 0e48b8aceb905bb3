"""First-run set-up of a deployment: the initial admin token."""

from __future__ import annotations

from schemas.registry import Role
from services.core.config import Settings
from services.core.registry_log import publish_records_blocking, read_registry_blocking
from services.core.tokens import issue_token


def ensure_admin_token(settings: Settings) -> str | None:
    """Create the first admin token if the registry holds none; return it, or None if one exists.

    The token is printed once by ``truyvet up``; only its hash is kept.
    """
    if read_registry_blocking(settings).has_role(Role.ADMIN):
        return None
    token, record = issue_token(Role.ADMIN, "created by the first truyvet up")
    publish_records_blocking(settings, [record])
    return token
