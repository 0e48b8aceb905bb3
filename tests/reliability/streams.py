"""A steady stream of ``scans`` messages produced in the background, so faults land mid-stream."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from types import TracebackType

from kafka import KafkaProducer

from services.core.config import Settings
from services.core.kafka_connection import kafka_options
from services.tracer.domain.model import Scan
from tests.support.scan_topic import batch_of


class PacedProducer:
    """Produces ``messages`` (one venue's scans each) at ``per_second`` in a thread.

    A broker or ClickHouse outage does not stop it: the producer retries with idempotence, so
    every message lands exactly once whenever the broker is reachable. With ``holds`` (counts of
    messages sent) it waits at each until :meth:`release` is called, so a fault a test injects
    before releasing is mid-stream however slow the machine: messages are still to come.
    """

    def __init__(self, settings: Settings, messages: Sequence[list[Scan]], per_second: float,
                 holds: Sequence[int] = ()):
        self._settings = settings
        self._messages = list(messages)
        self._interval = 1.0 / per_second
        self._holds = {at: threading.Event() for at in holds}
        if any(not 0 < at < len(self._messages) for at in self._holds):
            raise ValueError(f"holds {sorted(holds)} are not within the {self.total} messages")
        self.sent = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="paced-producer", daemon=True)

    def __enter__(self) -> PacedProducer:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for hold in self._holds.values():
            hold.set()
        self.join(timeout_s=120)

    def release(self) -> None:
        """Let the stream go on past its next hold that is not released yet."""
        for at in sorted(self._holds):
            if not self._holds[at].is_set():
                self._holds[at].set()
                return
        raise AssertionError("no hold left to release")

    @property
    def held(self) -> bool:
        """Whether the stream is waiting at a hold now."""
        hold = self._holds.get(self.sent)
        return hold is not None and not hold.is_set()

    @property
    def total(self) -> int:
        return len(self._messages)

    def join(self, timeout_s: float) -> None:
        self._thread.join(timeout=timeout_s)
        if self._thread.is_alive():
            raise AssertionError(f"the producer is stuck after {self.sent}/{self.total} messages")
        if self.error is not None:
            raise AssertionError(f"the producer failed: {self.error!r}") from self.error

    def _run(self) -> None:
        producer = KafkaProducer(
            **kafka_options(self._settings), acks="all",
            enable_idempotence=True, linger_ms=5, max_block_ms=120_000,
        )
        topic = self._settings.topic("scans")
        try:
            next_at = time.monotonic()
            for scans in self._messages:
                hold = self._holds.get(self.sent)
                if hold is not None and not hold.is_set():
                    hold.wait()
                    next_at = time.monotonic()
                batch = batch_of(scans)
                producer.send(topic, key=batch.venue_id.encode(),
                              value=batch.model_dump_json().encode())
                producer.flush(timeout=120)
                self.sent += 1
                next_at += self._interval
                time.sleep(max(0.0, next_at - time.monotonic()))
        except BaseException as exc:  # reported by join(), in the test's thread
            self.error = exc
        finally:
            producer.close(timeout=10)
