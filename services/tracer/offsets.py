"""Each ``scans`` partition is processed in offset order, every message once, none skipped.

The tracer's rows are versioned by the offset of the message that produced them, so that the
latest processing of a fact wins in ClickHouse: that holds only if a partition's messages are
processed in offset order. Its consumer delivers every message it fetches, re-fetches included
(``services/core/faust_app.py``), so the order is kept here. A partition starts at its committed
offset (or the log's first one) when it is assigned; a message below the next offset expected
was processed already (a re-delivery) and is passed over; one above it means messages before it
are missing: it is passed over too, and the worker seeks back to the expected offset.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

RESEEK_AFTER_S = 10.0


class Admission(enum.Enum):
    PROCESS = "process"
    REDELIVERED = "redelivered"  # processed already since the partition was assigned
    SEEK_BACK = "seek back"  # messages before it are missing: seek to expected_offset()
    AHEAD = "ahead"  # still ahead of the expected offset; a seek back is under way


class PartitionOrder:
    """The next offset each started partition expects."""

    def __init__(self, reseek_after_s: float = RESEEK_AFTER_S) -> None:
        self._next: dict[int, int] = {}
        self._sought: dict[int, tuple[int, float]] = {}  # partition -> (offset, when)
        self._reseek_after_s = reseek_after_s

    def started(self, partition: int) -> bool:
        return partition in self._next

    def start(self, partition: int, offset: int) -> None:
        """Expect ``offset`` next (a partition just assigned, or the log starting later)."""
        self._next[partition] = offset
        self._sought.pop(partition, None)

    def expected_offset(self, partition: int) -> int:
        return self._next[partition]

    def admit(self, partition: int, offset: int, now: float) -> Admission:
        """What to do with the message at ``offset``; a PROCESS is taken as processed."""
        expected = self._next[partition]
        if offset < expected:
            return Admission.REDELIVERED
        if offset > expected:
            sought = self._sought.get(partition)
            if sought is not None and sought[0] == expected \
                    and now - sought[1] < self._reseek_after_s:
                return Admission.AHEAD
            self._sought[partition] = (expected, now)
            return Admission.SEEK_BACK
        self._next[partition] = offset + 1
        self._sought.pop(partition, None)
        return Admission.PROCESS

    def forget(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self._next.pop(partition, None)
            self._sought.pop(partition, None)
