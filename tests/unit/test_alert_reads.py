"""The alerts API's pure read helpers: page cursors, stored rows, the figures' hours."""

from __future__ import annotations

import doctest

import pytest

from services.alerts.queries import helpers
from services.alerts.queries.helpers import BadCursorError, decode_cursor, encode_cursor
from services.alerts.queries.records import PageKey


def test_doctests_of_the_read_helpers_pass() -> None:
    failures, tried = doctest.testmod(helpers, raise_on_error=False)
    assert tried > 0 and failures == 0


def test_a_cursor_round_trips_and_orders_as_the_pages_do() -> None:
    keys = [PageKey(1, 10, "b"), PageKey(1, 10, "c"), PageKey(1, 11, "a"), PageKey(2, 0, "a")]
    assert [decode_cursor(encode_cursor(k)) for k in keys] == keys
    assert sorted(reversed(keys)) == keys


@pytest.mark.parametrize("bad", ["", "x", "MDoxOmE", "Nzo5OjEyMzQ1Njc4OTAxOmE", "é", "a" * 200])
def test_a_cursor_this_service_did_not_write_is_refused(bad: str) -> None:
    with pytest.raises(BadCursorError):
        decode_cursor(bad)
