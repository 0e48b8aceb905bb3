"""Slows down guessing of keys and tokens: failed authentications per client are rate-limited."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class FailureLimiter:
    """A token bucket per client address, spent only by failed authentications.

    Honest clients never fail often; a brute-force loop is refused with 429 after ``burst``
    failures and then gets ``per_second`` tries a second.

    Example:
        >>> limiter = FailureLimiter(burst=2, per_second=0.0)
        >>> limiter.blocked("1.2.3.4")
        False
        >>> limiter.record_failure("1.2.3.4"); limiter.record_failure("1.2.3.4")
        >>> limiter.blocked("1.2.3.4")
        True
    """

    def __init__(self, burst: int = 20, per_second: float = 1.0, max_clients: int = 100_000):
        self._burst = float(burst)
        self._rate = per_second
        self._max_clients = max_clients
        self._buckets: dict[str, _Bucket] = {}

    def _bucket(self, client: str) -> _Bucket:
        now = time.monotonic()
        bucket = self._buckets.get(client)
        if bucket is None:
            if len(self._buckets) >= self._max_clients:
                self._buckets.clear()  # bounded memory beats perfect memory of old clients
            bucket = self._buckets[client] = _Bucket(self._burst, now)
        else:
            bucket.tokens = min(self._burst, bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
        return bucket

    def blocked(self, client: str) -> bool:
        return self._bucket(client).tokens < 1.0

    def record_failure(self, client: str) -> None:
        bucket = self._bucket(client)
        bucket.tokens = max(0.0, bucket.tokens - 1.0)

    def retry_after_s(self) -> int:
        return max(1, int(1.0 / self._rate)) if self._rate > 0 else 60
