"""The tracer worker: a Faust agent over ``scans`` that keeps per-venue state and emits contacts.

The agent stays thin: it groups messages, lets :class:`TracerCore` decide, and writes the result
in an order that makes a crash harmless — ClickHouse rows, ``contacts`` and ``dead-letter``
messages and the state segments are all acknowledged before Faust may commit the offsets, and
everything written is keyed deterministically, so a replay rewrites the same facts.

State survives restarts in a changelog-backed Faust table of *segments*: one entry per processed
``scans`` message holding the scans it added. A worker that (re)gains a partition rebuilds that
partition's state from the segments below the first offset it is handed, then reprocesses the
rest; this keeps changelog traffic to one record per message instead of one per person.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import faust
from faust.types import TP, EventT

from services.core.clickhouse import utc_day
from services.core.config import Settings
from services.core.registry_log import RegistryFollower
from services.tracer.domain.model import VenueRules
from services.tracer.processor import (
    SourceMessage,
    TracerCore,
    parse_segment_key,
    segment_latest_scan,
)
from services.tracer.sink import ClickHouseSink

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 8 * 1024 * 1024
SCANS_PARTITIONS = 8
# The worker holds millions of small objects (the domain state) and allocates hundreds of
# thousands per step (rows, ids, messages) that live until the step is written. With CPython's
# default thresholds that garbage triggers a full collection every few steps, each one walking
# the whole state, which costs more the more state there is. So young collections run less
# often and full ones on a timer (the state itself makes no reference cycles to wait for).
GC_THRESHOLDS = (50_000, 20, 1_000_000_000)
GC_FULL_COLLECTION_EVERY_S = 120.0


class TracerWorker:
    """Wires the Faust app, the registry, the ClickHouse sink and the domain core together."""

    def __init__(self, settings: Settings, *, take: int = 64, within_s: float = 0.25) -> None:
        self.settings = settings
        self.registry = RegistryFollower(settings)
        self.sink = ClickHouseSink(settings)
        self.core = TracerCore(self.rules_for)
        self._take, self._within_s = take, within_s
        self._registry_started = False
        self.processed_scans = 0
        self.app = faust.App(
            f"{settings.topic_prefix}truyvet-tracer",
            broker=f"kafka://{settings.kafka_bootstrap}",
            store="memory://",
            # Under the state dir, not the working directory the worker was started in.
            datadir=str(Path(settings.state_dir).resolve() / "tracer-data"),
            web_enabled=False,
            topic_partitions=SCANS_PARTITIONS,
            topic_allow_declare=True,
            consumer_auto_offset_reset="earliest",
            broker_commit_interval=1.0,
            producer_max_request_size=MAX_MESSAGE_BYTES,
            consumer_max_fetch_size=MAX_MESSAGE_BYTES,
            producer_acks=-1,
            stream_buffer_maxsize=512,
        )
        app = self.app
        self.scans_topic = app.topic(
            settings.topic("scans"), key_type=bytes, value_type=bytes,
            key_serializer="raw", value_serializer="raw",
        )
        self.contacts_topic = app.topic(
            settings.topic("contacts"), key_serializer="raw", value_serializer="raw"
        )
        self.dead_letter_topic = app.topic(
            settings.topic("dead-letter"), key_serializer="raw", value_serializer="raw"
        )
        self.segments = app.Table(
            "segments", partitions=SCANS_PARTITIONS,
            schema=faust.Schema(key_type=bytes, value_type=bytes, key_serializer="raw",
                                value_serializer="raw"),
        )
        app.agent(self.scans_topic, name="trace")(self._trace)
        app.timer(interval=5.0)(self._heartbeat)
        app.timer(interval=3600.0)(self._purge)
        app.timer(interval=GC_FULL_COLLECTION_EVERY_S)(self._collect_garbage)
        # faust's signal typing wants a `signal` keyword that the sender never passes.
        app.on_partitions_revoked.connect(self._on_revoked)  # type: ignore[arg-type]

    def rules_for(self, venue_id: str) -> VenueRules:
        venue = self.registry.view.venue(venue_id)
        s = self.settings
        if venue is None:
            # Scans of a venue this worker has not heard of yet still count, by the defaults.
            return VenueRules(s.default_dwell_s, s.max_dwell_s, s.min_overlap_s)
        return VenueRules(venue.default_dwell_s, venue.max_dwell_s, venue.min_overlap_s)

    async def _trace(self, stream: Any) -> AsyncIterator[None]:
        if not self._registry_started:
            await self.registry.start()
            self._registry_started = True
        async for events in stream.take_events(self._take, within=self._within_s):
            await self.handle(events)
            yield None

    async def handle(self, events: Sequence[EventT]) -> None:
        messages = [
            SourceMessage(e.message.topic, e.message.partition, e.message.offset, e.key, e.value)
            for e in events
        ]
        for message in messages:
            if not self.core.has_partition(message.partition):
                self._restore(message.partition, message.offset)
        out = self.core.process(messages)
        store = self.segments.data
        for partition, key, value in out.segments:
            raw_key = key.encode()
            store[raw_key] = value
            self.segments.send_changelog(partition, raw_key, value)
        # ClickHouse first: whoever reacts to a contacts message (the alerts worker) reads
        # ClickHouse next and must find the change there.
        if len(out.rows):
            await asyncio.get_running_loop().run_in_executor(None, self.sink.write, out.rows)
        for venue_key, contacts in out.contacts:
            await self.contacts_topic.send(key=venue_key, value=contacts, force=True)
        for letter in out.dead_letters:
            log.warning("dead-lettered %s[%d]@%d: %s", letter.source_topic, letter.partition,
                        letter.offset, letter.reason)
            await self.dead_letter_topic.send(
                key=(letter.key or "").encode(), value=letter.model_dump_json().encode(),
                force=True,
            )
        # Everything above is acknowledged before these events may be committed.
        await self.app.producer.flush()
        self.processed_scans += out.scans_seen

    def _restore(self, partition: int, first_offset: int) -> None:
        started = time.monotonic()
        segments = []
        for raw_key, value in list(self.segments.data.items()):
            seg_partition, offset = parse_segment_key(raw_key.decode())
            if seg_partition == partition and offset < first_offset:
                segments.append((offset, value))
        segments.sort()
        restored = self.core.restore(partition, (value for _, value in segments))
        log.info("partition %d: restored %d scans from %d segments in %.2fs", partition,
                 restored, len(segments), time.monotonic() - started)

    def _on_revoked(self, sender: Any, revoked: set[TP], **_: Any) -> None:
        scans = self.settings.topic("scans")
        self.core.drop_partitions(tp.partition for tp in revoked if tp.topic == scans)

    async def _heartbeat(self) -> None:
        beat = Path(self.settings.state_dir) / "run" / "tracer.heartbeat"
        beat.parent.mkdir(parents=True, exist_ok=True)
        beat.write_text(f"{time.time():.0f} {self.processed_scans}\n")

    async def _collect_garbage(self) -> None:
        started = time.monotonic()
        found = gc.collect()
        log.debug("full garbage collection: %d objects in %.2fs", found,
                  time.monotonic() - started)

    async def _purge(self) -> None:
        await self.purge(int(time.time()) - self.settings.retention_days * 86_400)

    async def purge(self, cutoff: int) -> None:
        """Forget scans older than ``cutoff`` here, in the changelog and in ClickHouse (rule 10)."""
        store = self.segments.data
        for raw_key, value in list(store.items()):
            if segment_latest_scan(value) < cutoff:
                partition, _ = parse_segment_key(raw_key.decode())
                del store[raw_key]
                self.segments.send_changelog(partition, raw_key, None)
        forgotten = self.core.forget_before(cutoff)
        dropped = await asyncio.get_running_loop().run_in_executor(
            None, self.sink.drop_days_before, utc_day(cutoff)
        )
        log.info("retention: forgot %d scans, dropped partitions %s", forgotten, dropped)


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    worker = TracerWorker(settings)
    gc.set_threshold(*GC_THRESHOLDS)
    faust.Worker(worker.app, loglevel=loglevel).execute_from_commandline()
