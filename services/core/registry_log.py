"""Reading and writing the ``registry`` topic: blocking for the CLI, async for services."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from aiokafka import AIOKafkaConsumer, TopicPartition
from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as SyncTopicPartition

from schemas.registry import TokenRecord, VenueRecord
from services.core.config import Settings
from services.core.registry import RegistryView, record_key

log = logging.getLogger(__name__)


def publish_records_blocking(settings: Settings, records: list[VenueRecord | TokenRecord]) -> None:
    """Write records and return once the broker has acknowledged every one (acks=all)."""
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True
    )
    try:
        futures = [
            producer.send(
                settings.topic("registry"),
                key=record_key(record),
                value=record.model_dump_json().encode(),
            )
            for record in records
        ]
        producer.flush(timeout=30)
        for future in futures:
            future.get(timeout=30)
    finally:
        producer.close(timeout=10)


def read_registry_blocking(settings: Settings, timeout_s: float = 30.0) -> RegistryView:
    """Fold the whole registry topic, up to its current end, into a view."""
    view = RegistryView()
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(settings.topic("registry"))
        if not partitions:
            raise RuntimeError(
                f"topic {settings.topic('registry')!r} does not exist; run `truyvet up` first"
            )
        assigned = [SyncTopicPartition(settings.topic("registry"), p) for p in partitions]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        end = consumer.end_offsets(assigned)
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end[tp] for tp in assigned):
            if time.monotonic() > deadline:
                raise TimeoutError("timed out reading the registry topic")
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    view.apply(record.key, record.value)
    finally:
        consumer.close()
    return view


class RegistryFollower:
    """Keeps a :class:`RegistryView` up to date from the topic, inside an asyncio service.

    ``start()`` returns once the view holds everything written before it was called; after that a
    background task applies new records as they come. ``refresh()`` waits until the view also
    holds everything written before *it* was called — used when a key is not found, so a venue
    registered on another replica a moment ago is still recognised (read-your-writes).
    """

    def __init__(self, settings: Settings) -> None:
        self.view = RegistryView()
        self._settings = settings
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._caught_up = asyncio.Condition()
        self._refresh_lock = asyncio.Lock()

    async def start(self) -> None:
        topic = self._settings.topic("registry")
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._settings.kafka_bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
        )
        await self._consumer.start()
        # The registry is one partition by design (topics.py): a total order of records.
        if topic not in await self._consumer.topics():
            await self._consumer.stop()
            raise RuntimeError(f"topic {topic!r} does not exist; run `truyvet up` first")
        self._partitions = [TopicPartition(topic, 0)]
        self._consumer.assign(self._partitions)
        await self._consumer.seek_to_beginning(*self._partitions)
        self._positions = {tp: 0 for tp in self._partitions}
        self._task = asyncio.create_task(self._follow(), name="registry-follower")
        await asyncio.wait_for(self._read_to_current_end(), 30.0)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

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
                lambda: all(self._position(tp) >= end[tp] for tp in self._partitions)
            )

    def _position(self, tp: TopicPartition) -> int:
        return self._positions.get(tp, 0)

    _positions: dict[TopicPartition, int]

    async def _follow(self) -> None:
        assert self._consumer is not None
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=200)
            except Exception:
                log.exception("registry follower failed to fetch; retrying")
                await asyncio.sleep(1.0)
                continue
            for records in batches.values():
                for record in records:
                    self.view.apply(record.key, record.value)
            # The fetch position, not the last offset seen: compaction leaves gaps in offsets.
            for tp in self._partitions:
                self._positions[tp] = await self._consumer.position(tp)
            async with self._caught_up:
                self._caught_up.notify_all()
