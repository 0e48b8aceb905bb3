"""Gate scanners: how a city's scans reach ingest — in batches, late, twice, out of order.

Each venue has one or more gates; each gate is a scanner that queues its scans and uploads the
queue every ``upload_every_s`` seconds of simulated time. What real scanners did, and what the
pipeline must survive (rules 1 and 4):

- a scan sent twice in one upload (the scanner queued it twice), or sent again with the next
  upload (the acknowledgement was lost, so the scanner retries) — the same ``event_id`` both times;
- gates that go offline for hours and then upload their backlog at once, in chunks that arrive
  in no particular order, scans shuffled inside each chunk;
- within one upload round, venues' batches arrive in any order.

Pure: no clock, no I/O, randomness from the ``random.Random`` handed in.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

Scan = dict[str, Any]
"""One scan as ``POST /v1/scans`` takes it (a ``ScanIn`` as JSON)."""

LATE_AFTER_S = 3600
"""A batch whose oldest scan waited at least this long counts as a late upload."""


@dataclass(frozen=True, slots=True)
class UploadBatch:
    """One upload of one gate: the body of one ``POST /v1/scans``."""

    venue_id: str
    gate: str
    uploaded_at: int  # simulated epoch second of the upload
    oldest_scan_at: int  # epoch second of the scan that waited longest
    scans: list[Scan]
    redelivered: frozenset[int]  # indices of scans an earlier batch already carried

    @property
    def delay_s(self) -> int:
        return self.uploaded_at - self.oldest_scan_at

    def body(self) -> bytes:
        """The request body; the same batch always gives the same bytes."""
        return orjson.dumps(self.scans)


@dataclass(frozen=True)
class UploadStats:
    batches: int
    late_batches: int
    duplicated_in_upload: int
    redelivered: int
    outages: int


@dataclass(slots=True)
class _Queued:
    at: int
    scan: Scan
    copies: int  # 2: the scanner queued this scan twice
    redelivery: bool  # an earlier upload already carried it


class _Gate:
    __slots__ = ("gate", "offline_from", "offline_until", "pending", "queue", "venue_id",
                 "was_offline")

    def __init__(self, venue_id: str, gate: str) -> None:
        self.venue_id = venue_id
        self.gate = gate
        self.queue: list[_Queued] = []
        self.pending: list[_Queued] = []  # to send again with the next upload
        self.offline_from = 0
        self.offline_until = 0
        self.was_offline = False

    def offline_at(self, t: int) -> bool:
        return self.offline_from <= t < self.offline_until


class GateUploads:
    """The gate scanners of every venue, fed scans in time order, yielding upload batches."""

    def __init__(
        self,
        venue_gates: Sequence[tuple[str, int]],
        rng: random.Random,
        *,
        upload_every_s: int,
        max_batch: int,
        duplicate_rate: float,
        outage_share: float,
    ) -> None:
        self._gates = [
            [_Gate(venue_id, f"g{n + 1}") for n in range(count)] for venue_id, count in venue_gates
        ]
        self._rng = rng
        self._every = upload_every_s
        self._max_batch = max_batch
        self._duplicate_rate = duplicate_rate
        self._outage_share = outage_share
        self._dirty: dict[tuple[int, int], _Gate] = {}  # insertion-ordered: deterministic
        self._next_tick: int | None = None
        self.batches = 0
        self.late_batches = 0
        self.duplicated_in_upload = 0
        self.redelivered = 0
        self.outages = 0

    def stats(self) -> UploadStats:
        return UploadStats(self.batches, self.late_batches, self.duplicated_in_upload,
                           self.redelivered, self.outages)

    def plan_outages(self, day_start: int) -> None:
        """Take some gates offline for 2 to 8 hours of the day starting at ``day_start``."""
        for gates in self._gates:
            for gate in gates:
                if self._rng.random() < self._outage_share:
                    gate.offline_from = day_start + self._rng.randint(7 * 3600, 16 * 3600)
                    gate.offline_until = gate.offline_from + self._rng.randint(2 * 3600, 8 * 3600)
                    self.outages += 1

    def add(self, at: int, venue: int, gate_no: int, scan: Scan) -> None:
        """Queue ``scan`` (scanned at ``at``) at one gate; scans must come in time order."""
        gate = self._gates[venue][gate_no]
        roll = self._rng.random()
        copies = 1
        if roll < self._duplicate_rate / 2:
            copies = 2
            self.duplicated_in_upload += 1
        elif roll < self._duplicate_rate:
            gate.pending.append(_Queued(at, scan, 1, redelivery=True))
            self.redelivered += 1
        gate.queue.append(_Queued(at, scan, copies, redelivery=False))
        self._dirty[(venue, gate_no)] = gate

    def advance(self, now: int) -> Iterator[UploadBatch]:
        """Every upload round due before ``now``."""
        if self._next_tick is None:
            self._next_tick = (now // self._every + 1) * self._every
        while now >= self._next_tick:
            yield from self._upload_round(self._next_tick)
            self._next_tick += self._every

    def finish(self, now: int) -> Iterator[UploadBatch]:
        """Every round until each queue is empty: offline gates reconnect, retries go out."""
        tick = self._next_tick if self._next_tick is not None else now
        while self._dirty:
            tick = max(tick, now)
            yield from self._upload_round(tick)
            tick += self._every

    def _upload_round(self, tick: int) -> Iterator[UploadBatch]:
        batches: list[UploadBatch] = []
        for key, gate in list(self._dirty.items()):
            if gate.offline_at(tick):
                gate.was_offline = True
                continue
            batches.extend(self._drain(gate, tick))
            gate.queue, gate.pending = gate.pending, []
            if not gate.queue:
                del self._dirty[key]
        # Which venue's upload lands first within a round is anyone's guess.
        self._rng.shuffle(batches)
        yield from batches

    def _drain(self, gate: _Gate, tick: int) -> list[UploadBatch]:
        entries: list[tuple[int, Scan, bool]] = []
        for queued in gate.queue:
            entries.append((queued.at, queued.scan, queued.redelivery))
            if queued.copies == 2:
                entries.append((queued.at, queued.scan, queued.redelivery))
        # A scanner back from hours offline sends its backlog in pieces, in no order at all.
        if gate.was_offline:
            self._rng.shuffle(entries)
            gate.was_offline = False
        batches = []
        earlier: set[str] = set()
        for i in range(0, len(entries), self._max_batch):
            chunk = entries[i:i + self._max_batch]
            # A copy whose twin went in an earlier chunk is a redelivery to ingest; twins
            # within one chunk are its duplicates_in_request.
            redelivered = frozenset(
                n for n, (_, scan, again) in enumerate(chunk)
                if again or scan["event_id"] in earlier
            )
            earlier.update(scan["event_id"] for _, scan, _ in chunk)
            batch = UploadBatch(gate.venue_id, gate.gate, tick, min(at for at, _, _ in chunk),
                                [scan for _, scan, _ in chunk], redelivered)
            self.batches += 1
            if batch.delay_s >= LATE_AFTER_S:
                self.late_batches += 1
            batches.append(batch)
        return batches
