"""API keys, tokens and signed venue QR payloads.

Keys and tokens carry 256 bits of randomness, so a single SHA-256 is enough to store them:
there is nothing to brute-force in the hash, and look-up stays O(1) on every request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from pydantic import SecretStr

QR_SCHEME = "TVQR1"


def new_secret(prefix: str) -> str:
    """A fresh key or token, e.g. ``tvk_…`` for venues, ``tvt_…`` for people and systems."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class QrSigner:
    """Signs and verifies the payload printed in a venue's QR code.

    Example:
        >>> signer = QrSigner(SecretStr("q" * 32))
        >>> payload = signer.payload("cafe-42")
        >>> signer.venue_of(payload)
        'cafe-42'
        >>> signer.venue_of(payload.replace("cafe-42", "cafe-43")) is None
        True
    """

    __slots__ = ("_key",)

    def __init__(self, secret: SecretStr) -> None:
        self._key = secret.get_secret_value().encode()

    def _signature(self, venue_id: str) -> str:
        mac = hmac.new(self._key, f"{QR_SCHEME}.{venue_id}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:16]).decode().rstrip("=")

    def payload(self, venue_id: str) -> str:
        return f"{QR_SCHEME}.{venue_id}.{self._signature(venue_id)}"

    def venue_of(self, payload: str) -> str | None:
        """The venue a payload was signed for, or ``None`` if it is malformed or forged."""
        scheme, _, rest = payload.strip().partition(".")
        venue_id, _, signature = rest.rpartition(".")
        if scheme != QR_SCHEME or not venue_id or not signature:
            return None
        if not hmac.compare_digest(signature, self._signature(venue_id)):
            return None
        return venue_id
