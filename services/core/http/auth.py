"""Who is calling: bearer keys and tokens resolved against the registry, per role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request
from fastapi.security.utils import get_authorization_scheme_param

from schemas.registry import Role
from schemas.venues import VenuePublic
from services.core.http.errors import ApiError
from services.core.http.ratelimit import FailureLimiter
from services.core.registry_log import RegistryFollower
from services.core.secrets import sha256_hex


@dataclass(frozen=True, slots=True)
class Principal:
    role: Role
    venue: VenuePublic | None = None  # set for venue keys only
    credential_sha256: str = ""  # of the key or token it was found by
    # Set for tokens: what audit records name the caller by (see token_id()).
    token_id: str | None = None


def token_id(token_sha256: str) -> str:
    """A token's id in audit records: the first 16 hex characters of the SHA-256 the registry
    stores, so an operator finds the token record and nobody learns the token.

    Example:
        >>> token_id("ab" * 32)
        'abababababababab'
    """
    return token_sha256[:16]


class Authenticator:
    """Turns an ``Authorization: Bearer …`` header into a :class:`Principal`, or refuses."""

    def __init__(self, registry: RegistryFollower, limiter: FailureLimiter) -> None:
        self._registry = registry
        self._limiter = limiter

    async def principal(self, request: Request) -> Principal:
        # The TCP peer, or the client a trusted proxy forwarded for (TRUYVET_TRUSTED_PROXIES,
        # services/core/http/forwarded.py): never an address the caller merely wrote.
        client = request.client.host if request.client else "unknown"
        if self._limiter.blocked(client):
            raise ApiError(
                429,
                "too many failed authentications from this address",
                headers={"Retry-After": str(self._limiter.retry_after_s())},
            )
        scheme, credential = get_authorization_scheme_param(request.headers.get("Authorization"))
        if scheme.lower() != "bearer" or not credential or len(credential) > 200:
            self._limiter.record_failure(client)
            raise ApiError(
                401,
                "send a venue key or token as 'Authorization: Bearer <secret>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        found = self._lookup(credential)
        if found is None:
            # Registered a moment ago on another replica or through the CLI?
            await self._registry.refresh()
            found = self._lookup(credential)
        if found is None:
            self._limiter.record_failure(client)
            raise ApiError(
                401, "unknown or revoked key or token", headers={"WWW-Authenticate": "Bearer"}
            )
        return found

    def _lookup(self, credential: str) -> Principal | None:
        return self._lookup_hash(sha256_hex(credential))

    def _lookup_hash(self, credential_sha256: str) -> Principal | None:
        view = self._registry.view
        venue = view.venue_for_key_hash(credential_sha256)
        if venue is not None:
            return Principal(role=Role.VENUE, venue=venue, credential_sha256=credential_sha256)
        role = view.role_for_token_hash(credential_sha256)
        if role is None:
            return None
        return Principal(role=role, credential_sha256=credential_sha256,
                         token_id=token_id(credential_sha256))

    def still_valid(self, principal: Principal) -> bool:
        """Whether the credential ``principal`` came with still holds its role: not revoked,
        expired or rotated since. Long responses (the alert stream) ask it as they go; the
        registry follower applies a revocation within about a second of its writing."""
        found = self._lookup_hash(principal.credential_sha256)
        return found is not None and found.role == principal.role

    async def require(self, request: Request, *roles: Role) -> Principal:
        principal = await self.principal(request)
        if principal.role not in roles:
            allowed = " or ".join(r.value for r in roles)
            raise ApiError(
                403, f"this needs a {allowed} credential; yours is {principal.role.value}"
            )
        return principal


def requires(*roles: Role) -> Callable[[Request], Awaitable[Principal]]:
    """A route dependency admitting only ``roles``.

    As a dependency it runs before the body is validated, so a caller without the right
    credential learns nothing about the body format (401/403 before 422).
    """

    async def dependency(request: Request) -> Principal:
        authenticator: Authenticator = request.app.state.auth
        return await authenticator.require(request, *roles)

    return dependency
