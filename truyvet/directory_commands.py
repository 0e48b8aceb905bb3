"""``truyvet authority keygen`` and ``truyvet contacts open``: the authority's side of the
sealed contact directory, run on its own machine, offline.

``keygen`` writes the X25519 private key to a file only its owner can read and prints the one
line a deployment configures (``TRUYVET_AUTHORITY_PUBLIC_KEYS=KEY_ID:BASE64``). ``open`` reads a
contact list exported by the alerts API (``contacts.csv`` or ``contacts.json``), opens each
sealed identifier with the key files given, and writes a CSV a call centre can dial from: the
same columns with ``identifier`` in place of ``key_id`` and ``sealed``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.core.directory import AuthorityPrivateKey, CannotOpenError, DirectoryKeyError


class OpenError(ValueError):
    """A contact list or key that cannot be opened at all."""


@dataclass
class Opened:
    """What ``open`` made of a contact list."""

    header: list[str]
    rows: list[dict[str, str]] = field(default_factory=list)
    opened: int = 0
    other_key: int = 0  # sealed to a key none of the given files holds
    unsealed: int = 0  # no sealed copy in the directory
    failed: int = 0  # the key id matched but the box did not open (tampered or corrupt)

    def csv(self) -> str:
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=self.header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        return out.getvalue()


def generate_key(out: Path) -> str:
    """Write a new private key to ``out`` (never over an existing file); the public key line."""
    key = AuthorityPrivateKey.generate()
    try:
        key.write(out)
    except FileExistsError as exc:
        raise OpenError(f"{out} exists; keys are never overwritten (choose another file)") from exc
    return key.public.configured()


def read_keys(paths: Iterable[Path]) -> dict[str, AuthorityPrivateKey]:
    keys = {}
    for path in paths:
        try:
            key = AuthorityPrivateKey.read(path)
        except DirectoryKeyError as exc:
            raise OpenError(str(exc)) from exc
        keys[key.public.key_id] = key
    return keys


def contact_records(text: str) -> Iterator[dict[str, Any]]:
    """The rows of an exported contact list, CSV or JSON (``{"contacts": [...]}``)."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            document = json.loads(text)
            yield from document["contacts"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise OpenError(f"not a contact list of the alerts API: {exc}") from exc
        return
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or not {"key_id", "sealed"} <= set(reader.fieldnames):
        raise OpenError("not a contact list of the alerts API: no key_id and sealed columns")
    yield from reader


def open_contacts(text: str, keys: dict[str, AuthorityPrivateKey]) -> Opened:
    """Every row of the list with its identifier opened where one of ``keys`` can.

    Example:
        >>> key = AuthorityPrivateKey.generate()
        >>> listing = "alert_id,key_id,sealed\\na1,{},{}\\n".format(
        ...     key.public.key_id, key.public.seal("+84912345678"))
        >>> opened = open_contacts(listing, {key.public.key_id: key})
        >>> opened.rows, opened.opened
        ([{'alert_id': 'a1', 'identifier': '+84912345678'}], 1)
        >>> other = AuthorityPrivateKey.generate()
        >>> open_contacts(listing, {other.public.key_id: other}).rows[0]["identifier"]
        ''
    """
    header: list[str] | None = None
    result = Opened(header=[])
    for record in contact_records(text):
        row = {name: _cell(value) for name, value in record.items()
               if name not in ("key_id", "sealed")}
        key_id, sealed = str(record.get("key_id") or ""), str(record.get("sealed") or "")
        identifier = ""
        if not sealed:
            result.unsealed += 1
        elif key_id not in keys:
            result.other_key += 1
        else:
            try:
                identifier = keys[key_id].open(sealed)
                result.opened += 1
            except CannotOpenError:
                result.failed += 1
        row["identifier"] = identifier
        if header is None:
            header = list(row)
        result.rows.append(row)
    result.header = header or ["identifier"]
    return result


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return "" if value is None else str(value)
