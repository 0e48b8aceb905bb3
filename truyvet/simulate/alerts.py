"""Waiting, in ClickHouse, for the pipeline to catch up with a simulation and alert on its cases.

First the tracer must have stored every scan the run got accepted (the ``scans`` table holds
them once the tracer has processed them); then every reported case must have alerts, and the
counts must stop changing for a few seconds — late contacts re-trace a case, so the first
alerts are not always the last.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from clickhouse_driver import Client
from clickhouse_driver.errors import Error as ClickHouseError

from services.core.clickhouse import clickhouse_client
from services.core.config import Settings

# Key conditions inside FINAL, the deleted flag outside: on every ClickHouse version that gives
# the newest row of each key, then drops the retracted ones.
_ALERT_COUNTS = (
    "SELECT case_id, degree, count() FROM ("
    " SELECT case_id, degree, deleted FROM alerts FINAL WHERE case_id IN %(cases)s"
    ") WHERE deleted = 0 GROUP BY case_id, degree"
)
_STORED_SCANS = (
    "SELECT count() FROM (SELECT DISTINCT venue_id, event_id FROM scans"
    " WHERE venue_id IN %(venues)s)"
)


@dataclass
class AlertProgress:
    """Where the pipeline is, as of the last poll."""

    scans_expected: int
    scans_stored: int = 0
    counts: dict[str, dict[int, int]] = field(default_factory=dict)  # case -> degree -> alerts
    settled: bool = False
    elapsed_s: float = 0.0

    @property
    def tracer_caught_up(self) -> bool:
        return self.scans_stored >= self.scans_expected


class PipelineReads:
    """The two counts the wait needs, through one ClickHouse connection."""

    def __init__(self, client: Client) -> None:
        self._client = client

    @classmethod
    def connect(cls, settings: Settings) -> PipelineReads:
        return cls(clickhouse_client(settings))

    def stored_scans(self, venue_ids: Sequence[str]) -> int:
        rows = self._client.execute(_STORED_SCANS, {"venues": tuple(venue_ids)})
        return int(rows[0][0])

    def alert_counts(self, case_ids: Sequence[str]) -> dict[str, dict[int, int]]:
        counts: dict[str, dict[int, int]] = {}
        for case_id, degree, n in self._client.execute(_ALERT_COUNTS, {"cases": tuple(case_ids)}):
            counts.setdefault(str(case_id), {})[int(degree)] = int(n)
        return counts

    def close(self) -> None:
        self._client.disconnect()


def wait_for_tracer(
    reads: PipelineReads,
    *,
    venue_ids: Sequence[str],
    scans_expected: int,
    timeout_s: float = 180.0,
    poll_s: float = 1.0,
    on_poll: Callable[[int], None] | None = None,
) -> bool:
    """Poll until the tracer has stored ``scans_expected`` distinct scans; False on timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            stored = reads.stored_scans(venue_ids)
        except (ClickHouseError, OSError, EOFError):
            if time.monotonic() >= deadline:
                raise
            stored = 0
        if on_poll is not None:
            on_poll(stored)
        if stored >= scans_expected:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)


def wait_for_alerts(
    reads: PipelineReads,
    *,
    case_ids: Sequence[str],
    venue_ids: Sequence[str],
    scans_expected: int,
    timeout_s: float = 180.0,
    settle_s: float = 5.0,
    poll_s: float = 1.0,
    on_poll: Callable[[AlertProgress], None] | None = None,
) -> AlertProgress:
    """Poll until the tracer has every scan and each case's alert counts have settled.

    Returns the last progress; ``settled`` is False when ``timeout_s`` ran out first. A
    ClickHouse that does not answer is polled again until the timeout, then its error is raised.
    """
    progress = AlertProgress(scans_expected=scans_expected)
    began = time.monotonic()
    stable_since: float | None = None
    while True:
        now = time.monotonic()
        progress.elapsed_s = now - began
        try:
            progress.scans_stored = reads.stored_scans(venue_ids)
            counts = reads.alert_counts(case_ids)
        except (ClickHouseError, OSError, EOFError):
            if progress.elapsed_s >= timeout_s:
                raise
            counts = progress.counts
        complete = progress.tracer_caught_up and all(case in counts for case in case_ids)
        if complete and counts == progress.counts:
            stable_since = stable_since if stable_since is not None else now
            if now - stable_since >= settle_s:
                progress.settled = True
        else:
            stable_since = None
        progress.counts = counts
        if on_poll is not None:
            on_poll(progress)
        if progress.settled or progress.elapsed_s >= timeout_s:
            return progress
        time.sleep(poll_s)
