"""JSON that means one thing: an object with the same key twice is refused, not read as
whichever copy a parser happens to keep (a gate and a proxy could disagree on what was sent).
"""

from __future__ import annotations

import json
from typing import Any

import orjson


class DuplicateKeyError(ValueError):
    """An object of the document names one key twice."""


def unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An ``object_pairs_hook`` for :mod:`json` that refuses a repeated key."""
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(f"the key {key!r} appears twice in one object")
            seen.add(key)
    return found


_CHECKING = json.JSONDecoder(object_pairs_hook=unique_pairs)


def loads_strict(document: bytes) -> Any:
    """``orjson.loads``, refusing duplicate keys (:class:`DuplicateKeyError`).

    Compact JSON, what gates and libraries send, costs one extra ``orjson.dumps``: if that
    gives back the document, no key was dropped. Anything else is checked exactly, at the
    speed of the standard library.

    Examples:
        >>> loads_strict(b'{"a":1,"b":[{"c":2}]}')
        {'a': 1, 'b': [{'c': 2}]}
        >>> loads_strict(b'{"a": 1, "a": 2}')
        Traceback (most recent call last):
        ...
        services.core.http.strict_json.DuplicateKeyError: the key 'a' appears twice in one object
    """
    value = orjson.loads(document)  # raises orjson.JSONDecodeError (a ValueError) if not JSON
    if orjson.dumps(value) != document.strip():
        check_unique_keys(document)
    return value


def check_unique_keys(document: bytes | str) -> None:
    """Raise :class:`DuplicateKeyError` if an object of ``document`` (valid JSON) repeats a key."""
    text = document.decode() if isinstance(document, bytes) else document
    _CHECKING.decode(text)
