"""The sealed contact directory: each raw identifier sealed to the health authority's public key.

No server can read a pseudonym back to a person: that is what the keyed pseudonym is for. The
authority, though, must call the people alerted. So ingest, the one process that sees a raw
identifier, seals it (its normalised spelling, rule 13) to the authority's X25519 public key
with a libsodium sealed box (PyNaCl ``SealedBox``) before it drops it, and the sealed copy
travels beside the pseudonym. Only the private key opens it, and the authority keeps that
offline (``truyvet authority keygen``): no server has a setting for it.

A public key is configured as ``KEY_ID:BASE64`` (``TRUYVET_AUTHORITY_PUBLIC_KEYS``, several
separated by commas for rotation, the first one sealing). The key id is a fingerprint of the
key itself, so a key pasted with the wrong id is refused at start-up rather than sealing to a
key nobody holds.

Example:
    >>> private = AuthorityPrivateKey.generate()
    >>> public = private.public
    >>> sealed = public.seal("+84912345678")
    >>> "+84912345678" in sealed or "84912345678" in sealed
    False
    >>> private.open(sealed)
    '+84912345678'
    >>> parse_public_keys(public.configured())[0] == public
    True
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

KEY_ID_HEX = 16
KEY_FILE_KIND = "truyvet-authority-private-key"


class DirectoryKeyError(ValueError):
    """A configured public key or a private key file that cannot be used."""


class CannotOpenError(ValueError):
    """A sealed identifier that this private key does not open."""


def key_id_of(public_key: bytes) -> str:
    """The fingerprint that names a public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public_key).hexdigest()[:KEY_ID_HEX]


@dataclass(frozen=True, slots=True)
class AuthorityPublicKey:
    key_id: str
    key: bytes

    def seal(self, identifier: str) -> str:
        """``identifier`` sealed to this key, as URL-safe base64 (a fresh box every call)."""
        box = SealedBox(PublicKey(self.key)).encrypt(identifier.encode())
        return base64.urlsafe_b64encode(box).decode()

    def configured(self) -> str:
        """How this key is written in ``TRUYVET_AUTHORITY_PUBLIC_KEYS``."""
        return f"{self.key_id}:{base64.urlsafe_b64encode(self.key).decode()}"


@dataclass(frozen=True, slots=True)
class AuthorityPrivateKey:
    key: bytes

    @classmethod
    def generate(cls) -> AuthorityPrivateKey:
        return cls(bytes(PrivateKey.generate()))

    @property
    def public(self) -> AuthorityPublicKey:
        public = bytes(PrivateKey(self.key).public_key)
        return AuthorityPublicKey(key_id_of(public), public)

    def open(self, sealed: str) -> str:
        """The identifier in ``sealed``; :class:`CannotOpenError` if this key does not open it."""
        try:
            box = base64.urlsafe_b64decode(sealed.encode())
            return SealedBox(PrivateKey(self.key)).decrypt(box).decode()
        except (CryptoError, binascii.Error, ValueError) as exc:
            raise CannotOpenError("this key does not open the sealed identifier") from exc

    def write(self, path: Path) -> None:
        """The key file, readable by its owner only; refuses to replace an existing file."""
        public = self.public
        text = json.dumps({"kind": KEY_FILE_KIND, "key_id": public.key_id,
                           "public_key": public.configured().split(":", 1)[1],
                           "private_key": base64.urlsafe_b64encode(self.key).decode()})
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(text + "\n")

    @classmethod
    def read(cls, path: Path) -> AuthorityPrivateKey:
        try:
            data = json.loads(path.read_text())
            if data.get("kind") != KEY_FILE_KIND:
                raise DirectoryKeyError(f"{path} is not a truyvet authority key file")
            key = cls(base64.urlsafe_b64decode(data["private_key"].encode()))
            if len(key.key) != 32:
                raise DirectoryKeyError(f"{path}: the private key is not 32 bytes")
        except (OSError, json.JSONDecodeError, KeyError, AttributeError, binascii.Error) as exc:
            raise DirectoryKeyError(f"cannot read the authority key file {path}: {exc}") from exc
        if key.public.key_id != data.get("key_id"):
            raise DirectoryKeyError(f"{path}: the key id does not match the key")
        return key


def parse_public_keys(text: str) -> list[AuthorityPublicKey]:
    """``KEY_ID:BASE64[,KEY_ID:BASE64…]`` as keys, the sealing one first; empty: none.

    Example:
        >>> parse_public_keys("")
        []
        >>> parse_public_keys("0123456789abcdef:AAAA")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        services.core.directory.DirectoryKeyError: ...: not a 32-byte X25519 key in base64
    """
    keys = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        key_id, sep, encoded = item.partition(":")
        if not sep:
            raise DirectoryKeyError(f"authority public key {item[:20]!r}: expected KEY_ID:BASE64")
        try:
            key = base64.urlsafe_b64decode(encoded.encode())
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise DirectoryKeyError(
                f"authority public key {key_id}: not a 32-byte X25519 key in base64")
        if key_id_of(key) != key_id:
            raise DirectoryKeyError(f"authority public key {key_id}: the key id does not match "
                                    f"the key (its id is {key_id_of(key)})")
        keys.append(AuthorityPublicKey(key_id, key))
    return keys
