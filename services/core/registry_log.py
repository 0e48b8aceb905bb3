"""Reading and writing the ``registry`` topic: blocking for the CLI, async for services."""

from __future__ import annotations

import logging
import time

from kafka import KafkaConsumer, KafkaProducer
from kafka import TopicPartition as SyncTopicPartition

from schemas.registry import TokenRecord, VenueRecord
from services.core.config import Settings
from services.core.follower import TopicFollower
from services.core.kafka_connection import kafka_options
from services.core.registry import RegistryView, record_key

log = logging.getLogger(__name__)


def publish_records_blocking(settings: Settings, records: list[VenueRecord | TokenRecord]) -> None:
    """Write records and return once the broker has acknowledged every one (acks=all)."""
    producer = KafkaProducer(
        **kafka_options(settings), acks="all", enable_idempotence=True
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
    consumer = KafkaConsumer(**kafka_options(settings), enable_auto_commit=False)
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


class RegistryFollower(TopicFollower):
    """Keeps a :class:`RegistryView` up to date from the ``registry`` topic.

    ``refresh()`` is used when a key is not found, so a venue registered on another replica a
    moment ago is still recognised (read-your-writes).
    """

    def __init__(self, settings: Settings) -> None:
        self.view = RegistryView()
        super().__init__(settings, "registry", self.view.apply)
