"""Values the tracer domain works on: scans in; visits and contact edges out.

Times are integer seconds since the Unix epoch (UTC) and durations are seconds; persons are
pseudonym strings. ``Visit`` and ``Contact`` are named tuples rather than dataclasses because the
state creates one per emitted fact on its hot path, and a tuple is built, hashed and sorted several
times faster than a frozen dataclass; they are still immutable values with named fields.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from services.tracer.domain.errors import InvalidRulesError

Direction = Literal["in", "out"]

# uuid5(NAMESPACE_URL, "https://truyvet.invalid/visits" | ".../contacts"), written out so they can
# never drift: changing one would re-key every visit or contact already stored downstream.
VISIT_ID_NAMESPACE = uuid.UUID("bc9ddffc-25db-5b30-aac3-2c09c22b9a46")
CONTACT_ID_NAMESPACE = uuid.UUID("5242db42-7c85-52da-ab77-16c61c4c8953")


try:
    from services.tracer.domain import _uuid5  # built from _uuid5.c by `pip install`
except ImportError:  # not built here (no C compiler or OpenSSL headers): the Python ids below
    _uuid5 = None  # type: ignore[assignment]

COMPILED_IDS = _uuid5 is not None


class _Uuid5:
    """``str(uuid.uuid5(namespace, name))``, computed with string operations only.

    Ids are made for every visit and contact change on the tracer's hot path, where building a
    ``UUID`` object and formatting it cost several times the SHA-1 itself. The result is the same
    UUID (version 5, RFC 4122 variant), which ``tests/unit`` checks against :func:`uuid.uuid5`.
    :meth:`joined` runs in C where ``_uuid5.c`` was built (~3x faster), giving the same ids.
    """

    __slots__ = ("_namespace", "_prefix")

    # The variant's two high bits are 10: the 17th hex digit keeps its low two bits, under 8.
    _VARIANT = {d: "89ab"[int(d, 16) & 0b11] for d in "0123456789abcdef"}

    def __init__(self, namespace: uuid.UUID) -> None:
        self._namespace = namespace.bytes
        self._prefix = hashlib.sha1(namespace.bytes, usedforsecurity=False)

    def joined(self, rows: Sequence[tuple[str | int, ...]]) -> list[str]:
        """The UUID of each row's fields joined by the unit separator (ints in decimal)."""
        if _uuid5 is not None:
            return _uuid5.joined(self._namespace, rows)
        return self.many("\x1f".join(map(str, row)) for row in rows)

    def many(self, names: Iterable[str]) -> list[str]:
        """The UUID of each name: one loop with everything local, as the hot path wants it."""
        copy, variant = self._prefix.copy, self._VARIANT
        ids = []
        for name in names:
            digest = copy()
            digest.update(name.encode())
            h = digest.hexdigest()
            ids.append(f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{variant[h[16]]}{h[17:20]}-{h[20:32]}")
        return ids


_visit_uuid = _Uuid5(VISIT_ID_NAMESPACE)
_contact_uuid = _Uuid5(CONTACT_ID_NAMESPACE)


@dataclass(frozen=True, slots=True)
class Scan:
    """One check-in or check-out as the domain sees it (rule 1); ``person`` is a pseudonym.

    Example:
        >>> Scan("e1", "cafe", "ann", "in", 1_000)
        Scan(event_id='e1', venue_id='cafe', person='ann', direction='in', at=1000)
    """

    event_id: str
    venue_id: str
    person: str
    direction: Direction
    at: int


@dataclass(frozen=True, slots=True)
class VenueRules:
    """A venue's parameters of rules 2-3, in seconds (defaults: 1 h, 12 h, 15 min).

    Example:
        >>> VenueRules(min_overlap=600)
        VenueRules(default_dwell=3600, max_dwell=43200, min_overlap=600)
        >>> VenueRules(default_dwell=0)
        Traceback (most recent call last):
        ...
        services.tracer.domain.errors.InvalidRulesError: default_dwell must be a positive int, got 0
    """

    default_dwell: int = 3600
    max_dwell: int = 43200
    min_overlap: int = 900

    def __post_init__(self) -> None:
        for name, lowest in (("default_dwell", 1), ("max_dwell", 1), ("min_overlap", 0)):
            value = getattr(self, name)
            # bool is an int subclass; True seconds is a bug, not a duration.
            if type(value) is not int or value < lowest:
                kind = "a positive" if lowest else "a non-negative"
                raise InvalidRulesError(f"{name} must be {kind} int, got {value!r}")


class Visit(NamedTuple):
    """A person's presence at a venue during ``[start, end]`` (rule 2).

    Example:
        >>> visit = Visit("cafe", "ann", 1_000, 4_600)
        >>> visit.duration, visit.visit_id == Visit("cafe", "ann", 1_000, 4_600).visit_id
        (3600, True)
    """

    venue_id: str
    person: str
    start: int
    end: int

    @property
    def duration(self) -> int:
        return self.end - self.start

    @property
    def visit_id(self) -> str:
        """Deterministic id of this visit's content: re-deriving it never makes a duplicate."""
        return visit_id_for(self.venue_id, self.person, self.start, self.end)


class Contact(NamedTuple):
    """A contact edge (rule 3): ``person_a`` < ``person_b`` overlapped during ``[start, end]``.

    Example:
        >>> Contact("cafe", "ann", "bob", 1_000, 2_000).contact_id[:8]
        '1206831d'
    """

    venue_id: str
    person_a: str
    person_b: str
    start: int
    end: int

    @property
    def duration(self) -> int:
        return self.end - self.start

    @property
    def contact_id(self) -> str:
        """Deterministic id of this edge's content: re-deriving it never makes a duplicate."""
        return contact_id_for(self.venue_id, self.person_a, self.person_b, self.start, self.end)


def visit_id_for(venue_id: str, person: str, start: int, end: int) -> str:
    """The visit id: a UUID5 of its fields joined by the unit separator.

    Identifiers and pseudonyms hold no control characters, so the separator keeps
    ("a", "b\\x1fc") from colliding with ("a\\x1fb", "c").

    Example:
        >>> visit_id_for("cafe", "ann", 0, 60) == visit_id_for("cafe", "ann", 0, 61)
        False
    """
    return visit_ids([(venue_id, person, start, end)])[0]


def contact_id_for(venue_id: str, person_a: str, person_b: str, start: int, end: int) -> str:
    """The contact id: a UUID5 of its fields (persons in edge order) joined by the unit separator.

    Example:
        >>> len(contact_id_for("cafe", "ann", "bob", 0, 900))
        36
    """
    return contact_ids([(venue_id, person_a, person_b, start, end)])[0]


def visit_ids(visits: Sequence[tuple[str, str, int, int]]) -> list[str]:
    """:func:`visit_id_for` of each visit, computed in one go (the tracer's hot path)."""
    return _visit_uuid.joined(visits)


def contact_ids(edges: Sequence[tuple[str, str, str, int, int]]) -> list[str]:
    """:func:`contact_id_for` of each edge, computed in one go (the tracer's hot path)."""
    return _contact_uuid.joined(edges)
