"""What ``TRUYVET_ENVIRONMENT=production`` refuses to start with (docs/security.md says why).

Pure functions over plain values, so each rule is tested without a deployment; the settings
classes call them from their validators.
"""

from __future__ import annotations

import ipaddress
import math
from collections import Counter
from collections.abc import Mapping
from itertools import pairwise

MIN_SECRET_CHARS = 32
MIN_SECRET_BITS = 128
MIN_DISTINCT_CHARS = 16
HOW_TO_MAKE_ONE = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"


def estimated_bits(value: str) -> float:
    """An upper estimate of a secret's entropy, low for anything a person would type.

    The Shannon entropy of the value's own character frequencies times the length of its
    shortest repeating period, discounted by the share of neighbours one code point apart or
    equal (runs like ``abcdef`` or ``1111``).

    Examples:
        >>> estimated_bits("x" * 32)
        0.0
        >>> estimated_bits("0123456789abcdef" * 4) < 128 < estimated_bits(
        ...     "Hq3vZ0pL9sKx7bN2mW5cR8tY1uE4oA6dGj-_fIiSeVw")
        True
    """
    if not value:
        return 0.0
    period = _period(value)
    counts = Counter(value[:period])
    per_char = -sum(n / period * math.log2(n / period) for n in counts.values())
    steps = sum(abs(ord(a) - ord(b)) <= 1 for a, b in pairwise(value))
    return abs(per_char * period * (1 - steps / max(1, len(value) - 1)))


def _period(value: str) -> int:
    """The length of the shortest ``p`` with ``value`` a repetition of its first ``p``
    characters (a prefix of one at the end allowed)."""
    for p in range(1, len(value)):
        if all(value[i] == value[i + p] for i in range(len(value) - p)):
            return p
    return len(value)


def secret_problems(secrets: Mapping[str, str]) -> list[str]:
    """Why each named secret is unfit for production: too short, too regular, or the same as
    another one (one leak must not open two doors)."""
    problems = []
    for name, value in secrets.items():
        if len(value) < MIN_SECRET_CHARS:
            problems.append(f"{name} is shorter than {MIN_SECRET_CHARS} characters")
        elif len(set(value)) < MIN_DISTINCT_CHARS or estimated_bits(value) < MIN_SECRET_BITS:
            problems.append(f"{name} is not random enough (at least {MIN_SECRET_BITS} bits)")
    seen: dict[str, str] = {}
    for name, value in secrets.items():
        if value and value in seen:
            problems.append(f"{name} is the same as {seen[value]}")
        seen.setdefault(value, name)
    if problems:
        problems.append(f"make each one with: {HOW_TO_MAKE_ONE}")
    return problems


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps a port on this machine only.

    Examples:
        >>> [is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "10.1.2.3")]
        [True, True, True, False, False]
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything
