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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import faust
from faust.types import TP, EventT

from services.core.clickhouse import utc_day
from services.core.config import Settings
from services.core.faust_app import App
from services.core.registry_log import RegistryFollower
from services.tracer.domain.model import VenueRules
from services.tracer.offsets import Admission, PartitionOrder
from services.tracer.processor import (
    SourceMessage,
    StepOutput,
    TracerCore,
    in_parts,
    parse_segment_key,
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

    def __init__(self, settings: Settings, *, take: int = 256, part_bytes: int = 2_500_000,
                 within_s: float = 0.25) -> None:
        self.settings = settings
        self.registry = RegistryFollower(settings)
        self.sink = ClickHouseSink(settings)
        # One thread owns the ClickHouse client (it is not thread-safe): writes and purges queue.
        self._sink_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse")
        self.core = TracerCore(self.rules_for)
        self.order = PartitionOrder()
        self._take, self._part_bytes, self._within_s = take, part_bytes, within_s
        self._registry_started = False
        self.processed_scans = 0
        # Partitions revoked while a group of events was being handled: their state is dropped
        # only when the group is done (see handle).
        self._handling = False
        self._revoked_meanwhile: set[int] = set()
        self.app = App(
            f"{settings.topic_prefix}truyvet-tracer",
            redeliver=True,
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
            stream_buffer_maxsize=2 * take,
            # No standby copies of the segments table. A worker that gains a partition rebuilds
            # its state from the changelog, as after a restart (one segment per message over the
            # retention horizon: a slower takeover as that grows), because Faust's promotion of a
            # standby to active once left a worker waiting for changelog events that never came
            # (tests/reliability/test_scale_out.py, 1 clean-clone CI run).
            table_standby_replicas=0,
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
            # A table takes its changelog serializers from key_type/value_type, not from the
            # schema: without these, recovery decodes the raw segments as JSON and never ends.
            key_type=bytes, value_type=bytes,
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
        """Process and write a group of events; return only when all of it is acknowledged.

        The group is worked through in parts, so that ClickHouse stores one part (in its own
        process, on another core) while this one computes the next. Each part's ClickHouse rows
        are written before its ``contacts`` messages are sent, and parts are sent in order.
        """
        # A rebalance may revoke partitions at any await below. The rest of the group is still
        # processed with their state as it stands (complete: restored here, then advanced part
        # by part), which gives exactly what their next owner derives when it reprocesses the
        # group from the last commit; the state is dropped once the group is done, and restored
        # from the changelog if they come back.
        self._handling = True
        try:
            messages = await self._in_offset_order([
                SourceMessage(e.message.topic, e.message.partition, e.message.offset, e.key,
                              e.value)
                for e in events
            ])
            for message in messages:
                if not self.core.has_partition(message.partition):
                    self._restore(message.partition, message.offset)
            await self._process_in_parts(messages)
        finally:
            self._handling = False
            self._drop(self._revoked_meanwhile)
            self._revoked_meanwhile.clear()
        # Everything above is acknowledged before these events may be committed.
        await self.app.producer.flush()

    async def _in_offset_order(self, messages: list[SourceMessage]) -> list[SourceMessage]:
        """The messages to process, each partition's in offset order from where it started
        (see :mod:`services.tracer.offsets`); seeks back where some are missing."""
        admitted = []
        now = time.monotonic()
        for message in messages:
            partition = message.partition
            tp = TP(message.topic, partition)
            if not self.order.started(partition):
                self.order.start(partition, await self._resume_offset(tp))
            verdict = self.order.admit(partition, message.offset, now)
            if verdict is Admission.SEEK_BACK:
                expected = self.order.expected_offset(partition)
                earliest = await self._earliest_offset(tp)
                if expected < earliest:  # the topic's retention removed them: nothing to wait for
                    log.warning("partition %d: offsets %d..%d are gone from the log", partition,
                                expected, earliest - 1)
                    self.order.start(partition, earliest)
                    verdict = self.order.admit(partition, message.offset, now)
            if verdict is Admission.SEEK_BACK:
                expected = self.order.expected_offset(partition)
                log.warning("partition %d: handed offset %d while %d is next; seeking back",
                            partition, message.offset, expected)
                await self.app.consumer.seek(tp, expected)
            elif verdict is Admission.PROCESS:
                admitted.append(message)
        return admitted

    async def _resume_offset(self, tp: TP) -> int:
        """Where a partition just assigned resumes: the group's committed offset, or the first
        offset in the log when nothing was committed yet (auto_offset_reset is "earliest")."""
        committed = self.app.consumer._committed_offset.get(tp)  # type: ignore[attr-defined]
        if committed is not None:
            return int(committed)
        return await self._earliest_offset(tp)

    async def _earliest_offset(self, tp: TP) -> int:
        return int((await self.app.consumer.earliest_offsets(tp)).get(tp, 0))

    def _drop(self, partitions: set[int]) -> None:
        self.core.drop_partitions(partitions)
        self.order.forget(partitions)

    async def _process_in_parts(self, messages: Sequence[SourceMessage]) -> None:
        loop = asyncio.get_running_loop()
        previous: tuple[StepOutput, asyncio.Future[None]] | None = None
        for part in in_parts(messages, self._part_bytes):
            out = self.core.process(part)
            self._stage_segments(out)
            if previous is not None:
                await self._publish(*previous)
            previous = out, loop.run_in_executor(self._sink_thread, self.sink.write, out.rows)
        if previous is not None:
            await self._publish(*previous)

    def _stage_segments(self, out: StepOutput) -> None:
        store = self.segments.data
        for partition, key, value in out.segments:
            raw_key = key.encode()
            store[raw_key] = value
            self.segments.send_changelog(partition, raw_key, value)

    async def _publish(self, out: StepOutput, written: asyncio.Future[None]) -> None:
        # ClickHouse first: whoever reacts to a contacts message (the alerts worker) reads
        # ClickHouse next and must find the change there.
        await written
        for venue_key, contacts in out.contacts:
            await self.contacts_topic.send(key=venue_key, value=contacts, force=True)
        for letter in out.dead_letters:
            log.warning("dead-lettered %s[%d]@%d: %s", letter.source_topic, letter.partition,
                        letter.offset, letter.reason)
            await self.dead_letter_topic.send(
                key=(letter.key or "").encode(), value=letter.model_dump_json().encode(),
                force=True,
            )
        self.processed_scans += out.scans_seen

    def _restore(self, partition: int, first_offset: int) -> None:
        started = time.monotonic()
        segments = []
        for raw_key, value in list(self.segments.data.items()):
            seg_partition, offset = parse_segment_key(raw_key.decode())
            if seg_partition == partition and offset < first_offset:
                segments.append((offset, value))
        segments.sort()
        horizon = int(time.time()) - self.settings.retention_s
        restored = self.core.restore(partition, (value for _, value in segments), horizon)
        log.info("partition %d: restored %d scans from %d segments in %.2fs", partition,
                 restored, len(segments), time.monotonic() - started)

    def _on_revoked(self, sender: Any, revoked: set[TP], **_: Any) -> None:
        scans = self.settings.topic("scans")
        partitions = {tp.partition for tp in revoked if tp.topic == scans}
        if self._handling:
            self._revoked_meanwhile |= partitions
        else:
            self._drop(partitions)

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
        await self.purge(int(time.time()) - self.settings.retention_s)

    async def purge(self, cutoff: int) -> None:
        """Forget scans older than ``cutoff`` here, in the changelog and in ClickHouse (rule 10).

        Of the scans before ``cutoff``, the changelog then keeps exactly those the state still
        holds (see :meth:`TracerCore.purged_segments`), so a restart restores the state as it is.
        """
        forgotten = self.core.forget_before(cutoff)
        store = self.segments.data
        by_partition: dict[int, list[tuple[str, bytes]]] = {}
        for raw_key, value in list(store.items()):
            key = raw_key.decode()
            by_partition.setdefault(parse_segment_key(key)[0], []).append((key, value))
        for partition, segments in by_partition.items():
            for key, kept in self.core.purged_segments(partition, segments, cutoff):
                raw_key = key.encode()
                if kept is None:
                    del store[raw_key]
                else:
                    store[raw_key] = kept
                self.segments.send_changelog(partition, raw_key, kept)
        dropped = await asyncio.get_running_loop().run_in_executor(
            self._sink_thread, self.sink.drop_days_before, utc_day(cutoff)
        )
        log.info("retention: forgot %d scans, dropped partitions %s", forgotten, dropped)


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    Path(settings.state_dir).mkdir(parents=True, exist_ok=True)
    worker = TracerWorker(settings)
    gc.set_threshold(*GC_THRESHOLDS)
    faust.Worker(worker.app, loglevel=loglevel).execute_from_commandline()
