"""The sealed directory's copy in ClickHouse: ``directory`` topic entries written to the
``directory`` table, where the alerts API joins them to a case's alerts for the contact list.

A group consumer of its own (``truyvet-directory``) with exact manual commits: a batch is
inserted, then its offsets committed, so a restart resumes there and a replay writes the same
rows again (the table keeps the newest per pseudonym). An entry this release cannot read is
logged and left out; it never blocks the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

from aiokafka import TopicPartition
from pydantic import ValidationError

from schemas.directory import DirectoryEntry
from services.alerts.worker.store import AlertStore, DirectoryRow
from services.core.config import Settings
from services.core.worker import manual_commit_consumer, restarting

log = logging.getLogger(__name__)
RETRY_S = 1.0


def directory_rows(records: Iterable[tuple[int, bytes | None]]) -> list[DirectoryRow]:
    """The table rows of ``directory`` records given as ``(offset, value)``."""
    rows: list[DirectoryRow] = []
    for offset, value in records:
        if value is None:
            continue  # a tombstone: nothing to copy
        try:
            entry = DirectoryEntry.model_validate_json(value)
        except ValidationError as exc:
            log.warning("directory@%d: not a directory entry, not copied: %s", offset,
                        str(exc)[:200])
            continue
        rows.append((entry.pseudonym, entry.key_id, entry.sealed, entry.sealed_at))
    return rows


class DirectoryCopy:
    def __init__(self, settings: Settings, store: AlertStore, fetch_wait_ms: int = 1000) -> None:
        self._settings = settings
        self._store = store
        self._fetch_wait_ms = fetch_wait_ms
        self.copied = 0

    async def run(self) -> None:
        """Copy until cancelled; a failure is logged and the copy starts over where committed."""
        await restarting("directory copy", self._copy, retry_s=RETRY_S)

    def close(self) -> None:
        self._store.close()

    async def _copy(self) -> None:
        loop = asyncio.get_running_loop()
        s = self._settings
        consumer = manual_commit_consumer(s, f"{s.topic_prefix}truyvet-directory")
        consumer.subscribe([s.topic("directory")])
        await consumer.start()
        try:
            while True:
                batch: dict[TopicPartition, list[Any]] = await consumer.getmany(
                    timeout_ms=self._fetch_wait_ms, max_records=5000)
                if not batch:
                    continue
                rows = directory_rows((r.offset, r.value) for records in batch.values()
                                      for r in records)
                if rows:
                    await loop.run_in_executor(None, self._store.write_directory, rows)
                    self.copied += len(rows)
                await consumer.commit({tp: records[-1].offset + 1
                                       for tp, records in batch.items() if records})
        finally:
            await consumer.stop()
