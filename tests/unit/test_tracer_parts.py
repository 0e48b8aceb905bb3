"""How the tracer cuts a group of messages into the parts it computes and stores as one step."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.tracer.processor import SourceMessage, in_parts


@given(st.lists(st.one_of(st.none(), st.integers(0, 50)), max_size=40), st.integers(1, 100))
def test_parts_keep_every_message_once_in_order_and_each_but_the_last_reaches_the_size(
    sizes: list[int | None], part_bytes: int
) -> None:
    messages = [SourceMessage("scans", 0, offset, None, None if size is None else b"x" * size)
                for offset, size in enumerate(sizes)]
    parts = list(in_parts(messages, part_bytes))
    assert [m for part in parts for m in part] == messages
    assert all(part for part in parts)
    for part in parts[:-1]:
        size = sum(len(m.value or b"") for m in part)
        assert size >= part_bytes  # full ...
        assert size - len(part[-1].value or b"") < part_bytes  # ... by its last message
