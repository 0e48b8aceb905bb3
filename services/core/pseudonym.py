"""The keyed pseudonym that replaces every person identifier at the edge (rule 1)."""

from __future__ import annotations

import hashlib
import hmac

from pydantic import SecretStr


class Pseudonymizer:
    """HMAC-SHA256 of a person identifier under a server secret, as lower-case hex.

    The same identifier always gives the same pseudonym, so a case matches its scans, while the
    identifier itself cannot be recovered or guessed without the secret.

    Example:
        >>> p = Pseudonymizer(SecretStr("k" * 32))
        >>> p.pseudonym("0912345678") == p.pseudonym(" 0912345678 ")
        True
        >>> len(p.pseudonym("0912345678"))
        64
    """

    __slots__ = ("_key",)

    def __init__(self, secret: SecretStr) -> None:
        self._key = secret.get_secret_value().encode()

    def pseudonym(self, person_id: str) -> str:
        # Scanners pad and space codes differently; the person is the same.
        normalised = "".join(person_id.split())
        return hmac.new(self._key, normalised.encode(), hashlib.sha256).hexdigest()
