"""Visit and contact ids are the UUID5s of their fields: the fast path must give exactly those."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.tracer.domain import _uuid5, model
from services.tracer.domain.model import (
    COMPILED_IDS,
    CONTACT_ID_NAMESPACE,
    VISIT_ID_NAMESPACE,
    Contact,
    Visit,
    _contact_uuid,
    contact_id_for,
    contact_ids,
    visit_id_for,
    visit_ids,
)

names = st.text(min_size=0, max_size=80)
times = st.integers(min_value=0, max_value=4_000_000_000)


@given(names, names, names, times, times)
def test_contact_id_is_the_uuid5_of_its_fields(venue: str, a: str, b: str, start: int,
                                               end: int) -> None:
    name = f"{venue}\x1f{a}\x1f{b}\x1f{start}\x1f{end}"
    assert contact_id_for(venue, a, b, start, end) == str(uuid.uuid5(CONTACT_ID_NAMESPACE, name))


@given(names, names, times, times)
def test_visit_id_is_the_uuid5_of_its_fields(venue: str, person: str, start: int,
                                             end: int) -> None:
    name = f"{venue}\x1f{person}\x1f{start}\x1f{end}"
    assert visit_id_for(venue, person, start, end) == str(uuid.uuid5(VISIT_ID_NAMESPACE, name))


def test_known_ids_never_change() -> None:
    # Stored rows are keyed by these: a change here would re-key everything downstream.
    assert contact_id_for("cafe", "ann", "bob", 0, 900) == "433b3914-9669-504b-a051-5117d5a230ad"
    assert visit_id_for("cafe", "ann", 0, 60) == "15915e2b-93f2-5420-8055-c647e117ba2b"


edges = st.lists(st.tuples(names, names, names, times, times), max_size=20)


@given(edges)
def test_ids_in_bulk_are_the_ids_one_by_one(fields: list[tuple[str, str, str, int, int]]
                                            ) -> None:
    contacts = [Contact(*f) for f in fields]
    visits = [Visit(v, a, s, e) for v, a, _, s, e in fields]
    assert contact_ids(contacts) == [c.contact_id for c in contacts]
    assert visit_ids(visits) == [v.visit_id for v in visits]


def test_the_ids_module_is_compiled_here() -> None:
    # `make setup` builds services/tracer/domain/_uuid5.c (gcc and libssl-dev are among its
    # packages); without it the tracer falls back to the ~3x slower Python ids.
    assert COMPILED_IDS


@given(edges)
def test_compiled_ids_equal_the_python_ones(fields: list[tuple[str, str, str, int, int]]
                                            ) -> None:
    python = _contact_uuid.many("\x1f".join(map(str, f)) for f in fields)
    assert _uuid5.joined(CONTACT_ID_NAMESPACE.bytes, fields) == python


def test_compiled_ids_take_long_names_and_refuse_other_fields() -> None:
    long_name = ("v" * 5_000, "p" * 3_000, -1, 2**63 - 1)
    assert _uuid5.joined(VISIT_ID_NAMESPACE.bytes, [long_name]) == [
        str(uuid.uuid5(VISIT_ID_NAMESPACE, "\x1f".join(map(str, long_name))))]
    for rows in ([("cafe", 1.5)], [("cafe", 2**64)], [["cafe", 1]], [("cafe", True)]):
        with pytest.raises(TypeError):
            _uuid5.joined(VISIT_ID_NAMESPACE.bytes, rows)
    with pytest.raises(ValueError, match="16 bytes"):
        _uuid5.joined(b"short", [("cafe", 1)])


@given(edges)
def test_the_python_ids_are_the_same_where_the_module_is_not_built(
        fields: list[tuple[str, str, str, int, int]]) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(model, "_uuid5", None)
        python = contact_ids(fields)
    assert python == contact_ids(fields)
    assert python == [str(uuid.uuid5(CONTACT_ID_NAMESPACE, "\x1f".join(map(str, f))))
                      for f in fields]
