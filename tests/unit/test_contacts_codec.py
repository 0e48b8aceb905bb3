"""The ``contacts`` message: the tracer's columnar encoding read back through the schema."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.common import Op
from schemas.derived import MAX_CONTACT_CHANGES, ContactBatch
from services.tracer.codec import (
    ContactColumns,
    IsoTimes,
    contact_messages,
)
from services.tracer.domain.model import Contact, contact_ids

PEOPLE = [hashlib.sha256(str(n).encode()).hexdigest() for n in range(8)]
T0 = 1_763_800_000

edge = st.builds(
    lambda pair, start, length: Contact("cafe", *sorted(pair), T0 + start, T0 + start + length),
    st.lists(st.sampled_from(PEOPLE), min_size=2, max_size=2, unique=True),
    st.integers(0, 86_400), st.integers(900, 7_200),
)
changes = st.lists(st.tuples(st.sampled_from([Op.UPSERT, Op.RETRACT]), edge), max_size=60)


def columns_of(items: list[tuple[Op, Contact]]) -> ContactColumns:
    columns = ContactColumns()
    for op, contact in items:
        columns.extend(op, contact_ids([contact]), [contact.person_a], [contact.person_b],
                       [contact.start], [contact.end])
    return columns


def read_back(messages: list[bytes]) -> list[tuple[Op, str, Contact]]:
    return [
        (c.op, c.contact_id, Contact(c.venue_id, c.person_a, c.person_b,
                                     int(c.start.timestamp()), int(c.end.timestamp())))
        for value in messages
        for c in ContactBatch.model_validate_json(value).changes()
    ]


@given(changes, st.integers(2, 50))
def test_messages_read_back_as_the_changes_in_order(items: list[tuple[Op, Contact]],
                                                     memo_limit: int) -> None:
    messages = contact_messages("cafe", columns_of(items), IsoTimes(limit=memo_limit))
    assert read_back(messages) == [(op, c.contact_id, c) for op, c in items]
    for value in messages:
        batch = ContactBatch.model_validate_json(value)
        named = {batch.people[i] for i in batch.person_a + batch.person_b}
        assert named == set(batch.people)  # everyone listed is named (the model checks it too)


def test_many_changes_are_cut_into_messages_in_order() -> None:
    def pair(n: int) -> list[str]:  # people 0-3 meet in the first message, 4-7 in the second
        first = (n % 2) * 2 + (4 if n >= MAX_CONTACT_CHANGES else 0)
        return sorted(PEOPLE[first:first + 2])

    items = [(Op.UPSERT, Contact("cafe", *pair(n), T0 + n, T0 + n + 900))
             for n in range(MAX_CONTACT_CHANGES + 5)]
    messages = contact_messages("cafe", columns_of(items), IsoTimes())
    assert [len(ContactBatch.model_validate_json(m).op) for m in messages] == [
        MAX_CONTACT_CHANGES, 5]
    assert read_back(messages) == [(op, c.contact_id, c) for op, c in items]
    assert [set(ContactBatch.model_validate_json(m).people) for m in messages] == [
        set(PEOPLE[:4]), set(PEOPLE[4:])]


def test_iso_times_are_the_wire_format() -> None:
    assert IsoTimes().many([0, T0, 0]) == [
        "1970-01-01T00:00:00Z", "2025-11-22T08:26:40Z", "1970-01-01T00:00:00Z"]
    assert datetime.fromisoformat(IsoTimes().many([T0])[0]) == datetime.fromtimestamp(T0, UTC)


GOOD = {"venue_id": "cafe", "people": PEOPLE[:2], "op": ["upsert"], "contact_id": ["k"],
        "person_a": [0], "person_b": [1], "start": ["2026-11-20T08:00:00Z"],
        "end": ["2026-11-20T09:00:00Z"]}


@pytest.mark.parametrize(("change", "reason"), [
    ({"contact_id": ["k", "l"]}, "contact_id has 2 values, op has 1"),
    ({"person_b": [2]}, "out of range"),
    ({"people": [PEOPLE[0], PEOPLE[0]]}, "names someone twice"),
    ({"people": [PEOPLE[0], "B" * 64]}, "String should match pattern"),
    ({"op": []}, "at least 1 item"),
    ({"people": [*PEOPLE[:2], PEOPLE[5]]}, "lists someone no change names"),
])
def test_a_malformed_message_is_refused_with_its_reason(change: dict[str, object],
                                                        reason: str) -> None:
    assert ContactBatch.model_validate(GOOD)
    with pytest.raises(ValidationError, match=reason):
        ContactBatch.model_validate({**GOOD, **change})
