"""Which scans of a request this process already had acknowledged by Kafka: replays.

A gate that lost an answer sends the same scans again. They are harmless (the same
``event_id`` counts once downstream, rule 1) and are published again all the same, so a
forgotten id can never lose a scan; the receipt only counts them apart, so the gate sees that
they were not new. The memory is bounded (the most recent ``capacity`` ids) and per process:
a replay to another replica, or of a scan acknowledged long ago, counts as accepted.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

DEFAULT_CAPACITY = 200_000


class RecentEvents:
    """The (venue, event id) pairs acknowledged lately, oldest forgotten first.

    Example:
        >>> recent = RecentEvents(capacity=2)
        >>> recent.remember("cafe", ["e1", "e2"])
        >>> recent.replays("cafe", ["e1", "e3"])
        1
        >>> recent.remember("cafe", ["e3"])  # e1 is forgotten
        >>> recent.replays("cafe", ["e1", "e2", "e3"])
        2
    """

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._order: deque[str] = deque()
        self._known: set[str] = set()

    def replays(self, venue_id: str, event_ids: Iterable[str]) -> int:
        """How many of ``event_ids`` (of ``venue_id``) were acknowledged before."""
        return sum(1 for event_id in event_ids if _key(venue_id, event_id) in self._known)

    def remember(self, venue_id: str, event_ids: Iterable[str]) -> None:
        """Record ``event_ids`` as acknowledged by Kafka (call only after the acknowledgement)."""
        for event_id in event_ids:
            key = _key(venue_id, event_id)
            if key in self._known:
                continue
            self._known.add(key)
            self._order.append(key)
            if len(self._order) > self._capacity:
                self._known.discard(self._order.popleft())


def _key(venue_id: str, event_id: str) -> str:
    return f"{venue_id}\x00{event_id}"
