"""Venue gates pushing scans over HTTP the way a well-behaved client does.

A gate sends its uploads one after another. On ``503`` it waits what ``Retry-After`` says and
sends the same upload again (same event ids: the pipeline counts them once), a bounded number
of times. Every answer is recorded, so a test can check what the service said and when.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from services.tracer.domain.model import Scan
from tests.reliability.city import raw_id


def scan_body(message: list[Scan]) -> list[dict[str, str]]:
    """The JSON array a gate posts for these generated scans (raw person ids)."""
    return [
        {
            "event_id": s.event_id,
            "venue_id": s.venue_id,
            "person_id": raw_id(s.person),
            "direction": s.direction,
            "scanned_at": datetime.fromtimestamp(s.at, UTC).isoformat(),
        }
        for s in message
    ]


@dataclass
class GateLog:
    """What the gates were told, shared by all gate threads."""

    statuses: Counter[int] = field(default_factory=Counter)
    accepted_event_ids: set[str] = field(default_factory=set)
    unavailable_without_retry_after: int = 0
    unexpected: list[tuple[int, str]] = field(default_factory=list)
    gave_up: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, status: int) -> int:
        with self.lock:
            return self.statuses[status]


class Gate(threading.Thread):
    """One venue's gate: posts ``uploads`` in order, one every ``every_s`` seconds at most."""

    def __init__(
        self, url: str, api_key: str, uploads: list[list[Scan]], log: GateLog, *,
        every_s: float = 0.2, max_attempts: int = 12, retry_after_cap_s: float = 5.0,
    ) -> None:
        super().__init__(name=f"gate-{uploads[0][0].venue_id}", daemon=True)
        self._url, self._key, self._uploads, self._log = url, api_key, uploads, log
        self._every_s, self._max_attempts = every_s, max_attempts
        self._retry_after_cap_s = retry_after_cap_s
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with httpx.Client(base_url=self._url, timeout=60,
                              headers={"Authorization": f"Bearer {self._key}"}) as http:
                for upload in self._uploads:
                    began = time.monotonic()
                    self._push(http, upload)
                    time.sleep(max(0.0, self._every_s - (time.monotonic() - began)))
        except BaseException as exc:  # reported by the test, in its own thread
            self.error = exc

    def _push(self, http: httpx.Client, upload: list[Scan]) -> None:
        body = scan_body(upload)
        for _ in range(self._max_attempts):
            try:
                answer = http.post("/v1/scans", json=body)
            except httpx.TransportError:  # the service itself restarting: retry like a 503
                time.sleep(1.0)
                continue
            log = self._log
            with log.lock:
                log.statuses[answer.status_code] += 1
                if answer.status_code == 202:
                    refused = {r["index"] for r in answer.json()["refused"]}
                    log.accepted_event_ids.update(
                        s.event_id for i, s in enumerate(upload) if i not in refused)
                    if refused:
                        log.unexpected.append((202, answer.text[:300]))
                    return
                if answer.status_code != 503:
                    log.unexpected.append((answer.status_code, answer.text[:300]))
                    return
                retry_after = answer.headers.get("Retry-After", "")
                if not retry_after.isdigit():
                    log.unavailable_without_retry_after += 1
            time.sleep(min(float(retry_after or 1), self._retry_after_cap_s))
        with self._log.lock:
            self._log.gave_up.append(upload[0].event_id)
