"""The one module of ingest that talks to Kafka."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, OutOfOrderSequenceNumber

from schemas.cases import CaseReported, CaseWithdrawn
from schemas.directory import DirectoryEntry
from schemas.registry import TokenRecord, VenueRecord
from schemas.scans import ScanBatch
from services.core.config import Settings
from services.core.kafka_connection import kafka_options
from services.core.registry import record_key

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 8 * 1024 * 1024


class PublishUnavailableError(RuntimeError):
    """Kafka did not acknowledge in time; nothing the caller sent may be assumed written."""


class KafkaPublisher:
    """Idempotent, acks=all producer for the topics ingest writes.

    Every publish returns only after the broker acknowledged the message. A request's scans go
    out as one message, so a failure leaves nothing of that request half-published.
    """

    def __init__(self, settings: Settings, ack_timeout_s: float = 10.0) -> None:
        self._settings = settings
        self._ack_timeout_s = ack_timeout_s
        self._producer = self._new_producer()
        self._replacing = asyncio.Lock()

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            **kafka_options(self._settings),
            acks="all",
            enable_idempotence=True,
            linger_ms=2,
            max_request_size=MAX_MESSAGE_BYTES,
            request_timeout_ms=int(self._ack_timeout_s * 1000),
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def publish_scans(self, batch: ScanBatch) -> None:
        await self._send("scans", batch.venue_id.encode(), batch.model_dump_json().encode())

    async def publish_case(self, event: CaseReported | CaseWithdrawn) -> None:
        await self._send("cases", event.case_id.encode(), event.model_dump_json().encode())

    async def publish_directory(self, entries: list[DirectoryEntry]) -> None:
        """Every entry acknowledged, or :class:`PublishUnavailableError`: one message each,
        keyed by pseudonym, so compaction keeps the newest per person."""
        if not entries:
            return
        producer, topic = self._producer, self._settings.topic("directory")
        try:
            # Enqueued one after the other (no task per message: a request may bring thousands
            # of people seen for the first time), then every acknowledgement awaited together.
            async with asyncio.timeout(self._ack_timeout_s):
                sent = [await producer.send(topic, value=e.model_dump_json().encode(),
                                            key=e.pseudonym.encode()) for e in entries]
                await asyncio.gather(*sent)
        except (KafkaError, TimeoutError) as exc:
            log.warning("publish to directory failed: %r", exc)
            if isinstance(exc, OutOfOrderSequenceNumber):
                await self._replace(producer)
            raise PublishUnavailableError("Kafka did not acknowledge the directory") from exc
    async def publish_on_cases(self, key: str, value: bytes) -> None:
        """An exposure event (declared or withdrawn), keyed by its event id like a case."""
        await self._send("cases", key.encode(), value)

    async def publish_registry(self, record: VenueRecord | TokenRecord) -> None:
        await self._send("registry", record_key(record), record.model_dump_json().encode())

    async def _send(self, topic: str, key: bytes, value: bytes) -> None:
        producer = self._producer
        try:
            await asyncio.wait_for(
                producer.send_and_wait(self._settings.topic(topic), value=value, key=key),
                self._ack_timeout_s,
            )
        except (KafkaError, TimeoutError) as exc:
            log.warning("publish to %s failed: %r", topic, exc)
            if isinstance(exc, OutOfOrderSequenceNumber):
                await self._replace(producer)
            raise PublishUnavailableError(f"Kafka did not acknowledge the {topic} message") from exc

    async def _replace(self, failed: AIOKafkaProducer) -> None:
        """Swap in a new producer for one the broker refuses for good.

        A batch that timed out while the broker was away used up a sequence number that the
        broker never saw; after that it refuses every later batch of this producer id as out of
        order, and aiokafka does not recover from it. A new producer gets a new id.
        """
        async with self._replacing:
            if self._producer is not failed:
                return  # another request replaced it already
            fresh = self._new_producer()
            try:
                await asyncio.wait_for(fresh.start(), self._ack_timeout_s)
            except (KafkaError, TimeoutError) as exc:  # the next failed publish tries again
                log.warning("could not start a new Kafka producer: %r", exc)
                await fresh.stop()
                return
            self._producer = fresh
        log.warning("replaced the Kafka producer after an out-of-order sequence error")
        try:
            await asyncio.wait_for(failed.stop(), self._ack_timeout_s)
        except (KafkaError, TimeoutError) as exc:
            log.warning("stopping the replaced producer failed: %r", exc)
