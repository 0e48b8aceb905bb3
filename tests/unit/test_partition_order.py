"""The tracer processes each partition in offset order, every message once, none skipped."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.tracer.offsets import Admission, PartitionOrder


def test_re_deliveries_are_passed_over_and_order_continues() -> None:
    order = PartitionOrder()
    order.start(3, 10)
    assert [order.admit(3, o, 0.0) for o in (10, 11, 12)] == [Admission.PROCESS] * 3
    # A re-fetch from the committed offset hands 10..12 again, then the next one.
    assert [order.admit(3, o, 1.0) for o in (10, 11, 12, 13)] == [
        Admission.REDELIVERED, Admission.REDELIVERED, Admission.REDELIVERED, Admission.PROCESS]


def test_a_gap_seeks_back_once_and_waits_for_the_missing_offsets() -> None:
    order = PartitionOrder(reseek_after_s=10.0)
    order.start(0, 0)
    assert order.admit(0, 460, 0.0) is Admission.SEEK_BACK
    assert order.expected_offset(0) == 0
    # Messages still buffered beyond the gap are passed over without another seek...
    assert order.admit(0, 461, 1.0) is Admission.AHEAD
    # ...unless the seek back seems lost.
    assert order.admit(0, 462, 20.0) is Admission.SEEK_BACK
    assert [order.admit(0, o, 21.0) for o in range(3)] == [Admission.PROCESS] * 3
    assert order.expected_offset(0) == 3


def test_partitions_are_independent_and_forgotten_on_revocation() -> None:
    order = PartitionOrder()
    order.start(0, 5)
    order.start(1, 7)
    assert order.admit(1, 7, 0.0) is Admission.PROCESS
    assert order.admit(0, 5, 0.0) is Admission.PROCESS
    order.forget([0])
    assert not order.started(0) and order.started(1)


@given(st.lists(st.integers(min_value=0, max_value=30), max_size=200))
def test_whatever_is_handed_over_processing_is_exactly_0_1_2_etc(handed: list[int]) -> None:
    # Deliveries in any order, with repeats and holes; after each seek back the consumer
    # would re-fetch from the expected offset, which is what is processed next here.
    order = PartitionOrder()
    order.start(0, 0)
    processed = []
    for now, offset in enumerate(handed):
        if order.admit(0, offset, float(now)) is Admission.PROCESS:
            processed.append(offset)
    assert processed == list(range(len(processed)))
