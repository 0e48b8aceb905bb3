"""Sealing each identifier ingest sees for the contact directory, once per person and day.

Sealing costs an X25519 key exchange (~50 µs), and one person scans many times a day, so ingest
remembers which pseudonyms it sealed recently to the current key and seals a person again only
after :data:`RESEAL_AFTER`: often enough that the compacted, horizon-bounded ``directory`` topic
always holds a fresh copy for everyone still scanning, rarely enough to cost nothing in steady
state. Pure apart from the clock it is given.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from schemas.directory import DirectoryEntry
from services.core.directory import AuthorityPublicKey

RESEAL_AFTER = timedelta(days=1)
REMEMBERED = 262_144
"""Pseudonyms remembered as sealed (~100 bytes each): a busy ingest replica's day of people."""


class DirectorySealer:
    """Which identifiers to seal now, and their sealed entries; nothing when no key is set.

    Example:
        >>> from datetime import UTC
        >>> from services.core.directory import AuthorityPrivateKey
        >>> key = AuthorityPrivateKey.generate()
        >>> sealer = DirectorySealer(key.public)
        >>> now = datetime(2026, 12, 1, tzinfo=UTC)
        >>> [entry] = sealer.entries({"ab" * 32: "+84912345678"}, now)
        >>> key.open(entry.sealed)
        '+84912345678'
        >>> sealer.remember([entry], now)
        >>> sealer.entries({"ab" * 32: "+84912345678"}, now + timedelta(hours=3))
        []
        >>> len(sealer.entries({"ab" * 32: "+84912345678"}, now + timedelta(days=2)))
        1
    """

    def __init__(self, key: AuthorityPublicKey | None, remembered: int = REMEMBERED) -> None:
        self.key = key
        self._remembered = remembered
        self._sealed_at: OrderedDict[str, datetime] = OrderedDict()

    def entries(self, identities: Mapping[str, str], now: datetime) -> list[DirectoryEntry]:
        """Sealed entries for the pseudonyms of ``identities`` (pseudonym -> normalised
        identifier) not sealed to the current key within :data:`RESEAL_AFTER`."""
        if self.key is None:
            return []
        due = []
        for pseudonym, identifier in identities.items():
            last = self._sealed_at.get(pseudonym)
            if last is not None and now - last < RESEAL_AFTER:
                continue
            due.append(DirectoryEntry.model_construct(
                pseudonym=pseudonym, key_id=self.key.key_id,
                sealed=self.key.seal(identifier), sealed_at=now))
        return due

    def remember(self, entries: Iterable[DirectoryEntry], now: datetime) -> None:
        """Call once ``entries`` are acknowledged by the broker."""
        for entry in entries:
            self._sealed_at[entry.pseudonym] = now
            self._sealed_at.move_to_end(entry.pseudonym)
        while len(self._sealed_at) > self._remembered:
            self._sealed_at.popitem(last=False)
