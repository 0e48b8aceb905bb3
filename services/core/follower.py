"""A Kafka topic folded into memory from its beginning and followed, inside an asyncio service.

The registry (venues, keys, tokens) and ingest's list of reported cases are both such folds:
small facts every replica must agree on, kept in a topic rather than a shared database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.core.config import Settings
from services.core.kafka_connection import kafka_options

log = logging.getLogger(__name__)

Fold = Callable[[bytes | None, bytes | None], None]
"""Applies one record (key, value) to the in-memory state."""


class TopicFollower:
    """Applies every record of a topic to ``fold``, each partition in order.

    ``start()`` returns once everything written before it was called is applied; after that a
    background task applies new records as they come. ``refresh()`` waits until everything
    written before *it* was called is applied too — used when something is not found, so what
    another replica wrote a moment ago is still seen (read-your-writes).
    """

    def __init__(self, settings: Settings, topic: str, fold: Fold,
                 start_timeout_s: float = 30.0, partitions: int = 1) -> None:
        self._settings = settings
        self._topic = settings.topic(topic)
        self._fold = fold
        self._start_timeout_s = start_timeout_s
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._caught_up = asyncio.Condition()
        self._refresh_lock = asyncio.Lock()
        self._partitions = [TopicPartition(self._topic, p) for p in range(partitions)]
        self._positions: dict[TopicPartition, int] = {}

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            **kafka_options(self._settings),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await self._consumer.start()
        if self._topic not in await self._consumer.topics():
            await self._consumer.stop()
            raise RuntimeError(f"topic {self._topic!r} does not exist; run `truyvet up` first")
        # The registry has one partition (a total order of its records); `cases` is keyed by
        # case id, so each case's records are in order within its partition.
        self._consumer.assign(self._partitions)
        await self._consumer.seek_to_beginning(*self._partitions)
        self._task = asyncio.create_task(self._follow(), name=f"{self._topic}-follower")
        await asyncio.wait_for(self._read_to_current_end(), self._start_timeout_s)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    async def reachable(self) -> None:
        """Return once the brokers answered a metadata request; raise if they cannot."""
        if self._consumer is None:
            raise RuntimeError(f"the follower of {self._topic} is not started")
        await self._consumer.topics()

    async def following(self) -> None:
        """Return if the topic was read to its end at start and is followed still; else raise."""
        if self._task is None or self._task.done():
            raise RuntimeError(f"{self._topic} is not being followed")

    async def refresh(self, timeout_s: float = 2.0) -> None:
        # One refresh at a time: a burst of unknown keys (or a brute-force attempt) costs one
        # end-offset request, not one per request.
        async with self._refresh_lock:
            await asyncio.wait_for(self._read_to_current_end(), timeout_s)

    async def _read_to_current_end(self) -> None:
        assert self._consumer is not None
        end = await self._consumer.end_offsets(self._partitions)
        async with self._caught_up:
            await self._caught_up.wait_for(
                lambda: all(self._positions.get(tp, 0) >= end[tp] for tp in self._partitions)
            )

    async def _follow(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=200)
            except Exception:
                log.exception("follower of %s failed to fetch; retrying", self._topic)
                await asyncio.sleep(1.0)
                continue
            for records in batches.values():
                for record in records:
                    self._fold(record.key, record.value)
            # The fetch position, not the last offset seen: compaction leaves gaps in offsets.
            for tp in self._partitions:
                self._positions[tp] = await self._consumer.position(tp)
            async with self._caught_up:
                self._caught_up.notify_all()
