"""Reading topics back in tests with a plain client (read_committed, from the beginning)."""

from __future__ import annotations

import time

from kafka import KafkaConsumer, TopicPartition

from services.core.config import Settings
from services.core.kafka_connection import kafka_options

Record = tuple[bytes | None, bytes | None, int, int]  # key, value, partition, offset


def read_topic(
    settings: Settings, topic: str, min_messages: int = 0, timeout_s: float = 30.0
) -> list[Record]:
    """All records of ``topic`` up to its end (and at least ``min_messages``), as
    ``(key, value, partition, offset)`` in partition then offset order.

    Skips the client-side CRC check: kafka-python computes CRC32C in pure Python, which takes
    minutes for a topic of large batches (the broker has checked them already).
    """
    consumer = KafkaConsumer(
        **kafka_options(settings), enable_auto_commit=False, isolation_level="read_committed",
        check_crcs=False, max_partition_fetch_bytes=16 * 2**20, fetch_max_bytes=64 * 2**20,
    )
    try:
        partitions = sorted(consumer.partitions_for_topic(topic) or [])
        assert partitions, f"topic {topic} does not exist"
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records: list[Record] = []
        deadline = time.monotonic() + timeout_s
        while True:
            end = consumer.end_offsets(tps)
            if all(consumer.position(tp) >= end[tp] for tp in tps) and len(records) >= min_messages:
                return sorted(records, key=lambda r: (r[2], r[3]))
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out reading {topic}: {len(records)} records, wanted {min_messages}"
                )
            for batch in consumer.poll(timeout_ms=300).values():
                records.extend((r.key, r.value, r.partition, r.offset) for r in batch)
    finally:
        consumer.close()
