"""The registry's copy in ClickHouse: the venue records of ``registry`` written to ``venues``.

The dashboard and Grafana read venue names, kinds and rules from ``venues`` (``venue_names``,
migration 0002); the registry itself is the compacted ``registry`` topic that ingest and the CLI
write. It has one partition, a total order, so each row's version is its record's offset there:
a later record of a venue (renamed, new rules, a rotated key) replaces an earlier one, a replay
writes the same rows again, and the highest version stored is where a restart resumes: the copy
and how far it has read are one fact in ClickHouse.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import TypeAdapter, ValidationError

from schemas.registry import RegistryRecord, VenueRecord
from services.alerts.worker.store import AlertStore, VenueRow
from services.core.clickhouse import utc
from services.core.config import Settings
from services.core.kafka_connection import kafka_options
from services.core.worker import restarting

log = logging.getLogger(__name__)
_RECORD = TypeAdapter[RegistryRecord](RegistryRecord)
RETRY_S = 1.0


def venue_rows(records: Iterable[tuple[int, bytes | None, bytes | None]]) -> list[VenueRow]:
    """The ``venues`` rows of registry records given as ``(offset, key, value)``.

    Tokens are not venues; a tombstone or a record this release cannot read is left out (and
    logged), as the registry's readers leave it out of their view.
    """
    rows: list[VenueRow] = []
    for offset, key, value in records:
        if value is None:
            log.warning("registry@%d: tombstone of %r left in the copy", offset, key)
            continue
        try:
            record = _RECORD.validate_json(value)
        except ValidationError as exc:
            log.warning("registry@%d: not a registry record, not copied: %s", offset,
                        str(exc)[:200])
            continue
        if isinstance(record, VenueRecord):
            v = record.venue
            rule = v.cluster_rule  # 0s: the kind's default rule
            rows.append((v.venue_id, v.name, v.kind.value, v.default_dwell_s, v.max_dwell_s,
                         v.min_overlap_s, rule.min_cases if rule else 0,
                         rule.window_days if rule else 0, rule.min_presence_s if rule else 0,
                         utc(int(v.created_at.timestamp())), offset))
    return rows


class VenueCopy:
    """Follows ``registry`` from the offset after the highest version stored in ``venues``."""

    def __init__(self, settings: Settings, store: AlertStore, fetch_wait_ms: int = 1000) -> None:
        self._settings = settings
        self._store = store
        self._fetch_wait_ms = fetch_wait_ms
        self.copied = 0

    async def run(self) -> None:
        """Copy until cancelled; a failure is logged and the copy starts over where it stands."""
        await restarting("venue copy", self._copy, retry_s=RETRY_S)

    def close(self) -> None:
        self._store.close()

    async def _copy(self) -> None:
        loop = asyncio.get_running_loop()
        tp = TopicPartition(self._settings.topic("registry"), 0)
        consumer = AIOKafkaConsumer(**kafka_options(self._settings),
                                    group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            consumer.assign([tp])
            stored = await loop.run_in_executor(None, self._store.venues_copied_through)
            if stored is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, stored + 1)
            while True:
                batch: dict[Any, list[Any]] = await consumer.getmany(
                    tp, timeout_ms=self._fetch_wait_ms)
                rows = venue_rows((r.offset, r.key, r.value) for r in batch.get(tp, []))
                if rows:
                    await loop.run_in_executor(None, self._store.write_venues, rows)
                    self.copied += len(rows)
                    log.info("copied %d venue record(s) to ClickHouse", len(rows))
        finally:
            await consumer.stop()
