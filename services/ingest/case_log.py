"""Which cases were ever reported: the ``cases`` topic folded into ingest's memory.

Ingest keeps no store of its own; the ``cases`` topic is the log of record of every case, kept
for the audit period. Folding it (case ids only, never a pseudonym) lets ingest answer a
withdrawal of a case nobody reported with 404 rather than publishing a withdrawal of nothing.
The cost is the topic read once at start-up and about a hundred bytes of memory per case.
"""

from __future__ import annotations

import orjson

from services.core.config import Settings
from services.core.follower import TopicFollower

START_TIMEOUT_S = 120.0
"""Reading the whole ``cases`` topic at start-up: a year of a country's cases is millions."""


class ReportedCases:
    """The ids of the cases reported on ``cases``; a withdrawn case was reported too.

    Example:
        >>> cases = ReportedCases()
        >>> cases.apply(b"hn-1", b'{"kind": "reported", "case_id": "hn-1"}')
        >>> cases.apply(b"hn-2", b'{"kind": "withdrawn", "case_id": "hn-2"}')
        >>> "hn-1" in cases, "hn-2" in cases, cases.skipped
        (True, False, 0)
    """

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._events: set[str] = set()  # exposure events ever declared (rule 11)
        self.skipped = 0

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Fold one ``cases`` record in; a record this version cannot read is counted."""
        try:
            event = orjson.loads(value or b"")
        except orjson.JSONDecodeError:
            self.skipped += 1
            return
        if isinstance(event, dict) and isinstance(event.get("event_id"), str):
            if event.get("kind") == "exposure_declared":
                self._events.add(event["event_id"])
            return
        case_id = event.get("case_id") if isinstance(event, dict) else None
        if not isinstance(case_id, str):
            self.skipped += 1
        elif event.get("kind") == "reported":
            self._ids.add(case_id)

    def add(self, case_id: str) -> None:
        self._ids.add(case_id)

    def add_event(self, event_id: str) -> None:
        self._events.add(event_id)

    def declared(self, event_id: str) -> bool:
        return event_id in self._events

    def __contains__(self, case_id: object) -> bool:
        return case_id in self._ids


class CaseLog(TopicFollower):
    """Keeps :class:`ReportedCases` up to date from the ``cases`` topic."""

    def __init__(self, settings: Settings) -> None:
        self.reported = ReportedCases()
        super().__init__(settings, "cases", self.reported.apply, start_timeout_s=START_TIMEOUT_S,
                         partitions=settings.cases_partitions)

    async def was_reported(self, case_id: str) -> bool:
        """Whether ``case_id`` was ever reported, on any replica, before this call.

        Raises :class:`TimeoutError` if the topic cannot be read to its end in time.
        """
        if case_id not in self.reported:
            await self.refresh()  # reported a moment ago through another replica?
        return case_id in self.reported

    async def was_declared(self, event_id: str) -> bool:
        """Whether the exposure event ``event_id`` was ever declared, on any replica."""
        if not self.reported.declared(event_id):
            await self.refresh()
        return self.reported.declared(event_id)
