"""The keyed pseudonym that replaces every person identifier at the edge (rule 1)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from pydantic import SecretStr


class Pseudonymizer:
    """HMAC-SHA256 of a person identifier under a server secret, as lower-case hex.

    The identifier is first brought to its one spelling by ``normalise`` (rule 13: ingest's
    ``services.ingest.identifiers``), so however a scanner wrote it, one person is one
    pseudonym; a case matches its scans, while the identifier itself cannot be recovered or
    guessed without the secret.

    Example:
        >>> p = Pseudonymizer(SecretStr("k" * 32), normalise=lambda raw: raw.strip().upper())
        >>> p.pseudonym("c1234567") == p.pseudonym(" C1234567 ")
        True
        >>> len(p.pseudonym("C1234567"))
        64
    """

    __slots__ = ("_key", "_normalise")

    def __init__(self, secret: SecretStr, normalise: Callable[[str], str]) -> None:
        self._key = secret.get_secret_value().encode()
        self._normalise = normalise

    def pseudonym(self, person_id: str) -> str:
        return self.identify(person_id)[1]

    def identify(self, person_id: str) -> tuple[str, str]:
        """The identifier's one spelling and its pseudonym: ingest seals the first
        (``services/core/directory.py``) and publishes only the second."""
        normalised = self._normalise(person_id)
        return normalised, hmac.new(self._key, normalised.encode(), hashlib.sha256).hexdigest()
