"""Facts the tracer derives from scans (rules 2–4): visits and contacts, with retractions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Self

from pydantic import Field, NonNegativeInt, model_validator

from schemas.common import Identifier, Op, Pseudonym, UtcDateTime, WireModel

MAX_CONTACT_CHANGES = 10_000
"""A ``contacts`` message holds at most this many changes."""

ContactId = Annotated[str, Field(min_length=1, max_length=64)]


class VisitChange(WireModel):
    """A visit appearing (``upsert``) or disappearing (``retract``) after new scans."""

    op: Op
    visit_id: str = Field(min_length=1, max_length=64)
    venue_id: Identifier
    person_id: Pseudonym
    start: UtcDateTime
    end: UtcDateTime


class ContactChange(WireModel):
    """A contact edge (rule 3) appearing or disappearing; ``person_a`` < ``person_b``."""

    op: Op
    contact_id: ContactId
    venue_id: Identifier
    person_a: Pseudonym
    person_b: Pseudonym
    start: UtcDateTime
    end: UtcDateTime


class ContactBatch(WireModel):
    """The value of one ``contacts`` message, keyed by ``venue_id``: that venue's contact changes,
    in the order they apply, column by column.

    Change ``i`` is ``op[i]`` of the edge ``contact_id[i]`` between ``people[person_a[i]]`` and
    ``people[person_b[i]]`` during ``[start[i], end[i]]`` (see :meth:`changes`). The tracer makes
    several changes per scan and a venue's changes keep naming the same few people, so columns
    and one list of the people named (each once) make a message about half the bytes of one
    object per change, and a consumer that needs only who is touched reads ``people``.

    Example:
        >>> a, b = "a" * 64, "b" * 64
        >>> batch = ContactBatch(venue_id="cafe", people=[a, b], op=["upsert"],
        ...                      contact_id=["k1"], person_a=[0], person_b=[1],
        ...                      start=["2026-11-20T08:00:00Z"], end=["2026-11-20T09:00:00Z"])
        >>> [(c.op.value, c.person_b == b, c.end.hour) for c in batch.changes()]
        [('upsert', True, 9)]
    """

    venue_id: Identifier
    people: list[Pseudonym] = Field(min_length=2, max_length=2 * MAX_CONTACT_CHANGES)
    op: list[Op] = Field(min_length=1, max_length=MAX_CONTACT_CHANGES)
    contact_id: list[ContactId] = Field(min_length=1, max_length=MAX_CONTACT_CHANGES)
    person_a: list[NonNegativeInt] = Field(min_length=1, max_length=MAX_CONTACT_CHANGES)
    person_b: list[NonNegativeInt] = Field(min_length=1, max_length=MAX_CONTACT_CHANGES)
    start: list[UtcDateTime] = Field(min_length=1, max_length=MAX_CONTACT_CHANGES)
    end: list[UtcDateTime] = Field(min_length=1, max_length=MAX_CONTACT_CHANGES)

    @model_validator(mode="after")
    def _columns_line_up(self) -> Self:
        n = len(self.op)
        for name in ("contact_id", "person_a", "person_b", "start", "end"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} values, op has {n}")
        people = len(self.people)
        if max(self.person_a) >= people or max(self.person_b) >= people:
            raise ValueError(f"a person index is out of range of the {people} people")
        if len(set(self.people)) != people:
            raise ValueError("people names someone twice")
        if len(set(self.person_a).union(self.person_b)) != people:
            raise ValueError("people lists someone no change names")
        return self

    def changes(self) -> Iterator[ContactChange]:
        """The changes one by one, in order."""
        people, venue_id = self.people, self.venue_id
        for op, contact_id, a, b, start, end in zip(
            self.op, self.contact_id, self.person_a, self.person_b, self.start, self.end,
            strict=True,
        ):
            yield ContactChange(op=op, contact_id=contact_id, venue_id=venue_id,
                                person_a=people[a], person_b=people[b], start=start, end=end)
