"""The tracer worker: a plain aiokafka group consumer over ``scans`` that commits what it stored.

A batch loop, as aiokafka's own examples keep local state: fetch (``getmany``), let
:class:`TracerCore` decide, write the ClickHouse rows, send the ``contacts`` and
``dead-letter`` messages and wait for the broker to acknowledge them, then commit exactly the
offset after the last message of each partition. ClickHouse plus the group's committed offset
are the durable record, written in that order; everything written is keyed deterministically, so
a replay after a crash rewrites the same facts. Faust is not used here: its stream acknowledges
events the worker passed over and its commit guard lets a one-message hole through
(faust-streaming #115, #216, #221); aiokafka delivers each partition in order from its
position and commits what it is told.

The state is a hot window (``TRUYVET_TRACER_HOT_HOURS``). A worker that gains a partition
rebuilds it from the ``scans`` topic itself, from the first message produced within the window
(``offsets_for_times``) up to the committed offset; older scans, and scans whose visits reach
out of the window, are traced against ClickHouse (:meth:`TracerCore.process_late`).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

from services.core.clickhouse import utc_day
from services.core.config import Settings
from services.core.kafka_connection import kafka_options
from services.core.metrics import (
    CONTACT_CHANGES,
    DEAD_LETTERS,
    HELD_SCANS,
    LATE_MESSAGES,
    SCANS_PROCESSED,
    VISIT_CHANGES,
    record_lag,
)
from services.core.registry_log import RegistryFollower
from services.core.worker import (
    MAX_MESSAGE_BYTES,
    Deliveries,
    Rebalance,
    acknowledged_producer,
    configure_process,
    every,
    fresh_producer,
    manual_commit_consumer,
    serve,
    write_heartbeat,
)
from services.tracer.domain.model import VenueRules
from services.tracer.history import ClickHouseHistory
from services.tracer.memory import release_free_memory
from services.tracer.processor import SourceMessage, StepOutput, TracerCore, in_parts
from services.tracer.sink import ClickHouseSink

log = logging.getLogger(__name__)

# The worker holds millions of small objects (the domain state) and allocates hundreds of
# thousands per step (rows, ids, messages) that live until the step is written. With CPython's
# default thresholds that garbage triggers a full collection every few steps, each one walking
# the whole state, which costs more the more state there is. So young collections run less
# often and full ones on a timer (the state itself makes no reference cycles to wait for).
GC_THRESHOLDS = (50_000, 20, 1_000_000_000)
GC_FULL_COLLECTION_EVERY_S = 120.0
EVICT_EVERY_S = 60.0
PURGE_EVERY_S = 3600.0
HEARTBEAT_EVERY_S = 5.0


class TracerWorker:
    """Wires the consumer, the registry, the ClickHouse sink and the domain core together."""

    def __init__(self, settings: Settings, *, take: int = 256, part_bytes: int = 2_500_000,
                 fetch_wait_ms: int = 250) -> None:
        self.settings = settings
        self.registry = RegistryFollower(settings)
        self.sink = ClickHouseSink(settings)
        self.history = ClickHouseHistory(settings)
        # One thread owns the ClickHouse writes and reads, in order: a late message is read
        # against a store that has every row before it.
        self._sink_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse")
        self.core = TracerCore(self.rules_for)
        self._take, self._part_bytes, self._fetch_wait_ms = take, part_bytes, fetch_wait_ms
        self.scans_topic = settings.topic("scans")
        self.group_id = f"{settings.topic_prefix}truyvet-tracer"
        self.processed_scans = 0
        self.late_messages = 0
        # Held while a batch is processed and committed; a rebalance waits for it.
        self._lock = asyncio.Lock()
        self._generation = 0
        # partition -> the offset its state has processed up to (the next one to process).
        self._next: dict[int, int] = {}
        self._to_restore: set[int] = set()
        self._stopping = asyncio.Event()
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None

    def rules_for(self, venue_id: str) -> VenueRules:
        venue = self.registry.view.venue(venue_id)
        s = self.settings
        if venue is None:
            # Scans of a venue this worker has not heard of yet still count, by the defaults.
            return VenueRules(s.default_dwell_s, s.max_dwell_s, s.min_overlap_s)
        return VenueRules(venue.default_dwell_s, venue.max_dwell_s, venue.min_overlap_s)

    # ------------------------------------------------------------------ life cycle

    async def run(self) -> None:
        s = self.settings
        await self.registry.start()
        self.producer = acknowledged_producer(s)
        self.consumer = manual_commit_consumer(
            s, self.group_id,
            # A late message or a restore may keep the loop from fetching for a while.
            max_poll_interval_ms=600_000,
        )
        await self.producer.start()
        self.consumer.subscribe([self.scans_topic], listener=Rebalance(self))
        await self.consumer.start()
        timers = [asyncio.create_task(every(HEARTBEAT_EVERY_S, self._heartbeat)),
                  asyncio.create_task(every(EVICT_EVERY_S, self._evict)),
                  asyncio.create_task(every(PURGE_EVERY_S, self._purge)),
                  asyncio.create_task(every(GC_FULL_COLLECTION_EVERY_S, self._collect))]
        try:
            await self._heartbeat()
            while not self._stopping.is_set():
                await self._step()
        finally:
            for timer in timers:
                timer.cancel()
            await self.consumer.stop()  # leaves the group: its partitions move at once
            await self.producer.stop()
            await self.registry.stop()
            self._sink_thread.shutdown()
            self.sink.close()
            self.history.close()

    def stop(self) -> None:
        self._stopping.set()

    # ------------------------------------------------------------------ the batch loop

    async def _step(self) -> None:
        assert self.consumer is not None
        generation = self._generation
        batch = await self.consumer.getmany(timeout_ms=self._fetch_wait_ms,
                                            max_records=self._take)
        async with self._lock:
            if generation != self._generation:
                # A rebalance came between the fetch and now: every partition kept or gained is
                # sought back to what its state has processed, so this batch is fetched again.
                return
            await self._restore_assigned()
            messages: list[SourceMessage] = []
            commits: dict[TopicPartition, int] = {}
            assigned = self.consumer.assignment()
            for tp, records in sorted(batch.items()):
                if not records or tp not in assigned or tp.partition in self._to_restore:
                    continue
                expected = self._next.get(tp.partition)
                if expected is not None and records[0].offset != expected:
                    log.warning("partition %d: handed offset %d while %d is next; seeking back",
                              tp.partition, records[0].offset, expected)
                    self.consumer.seek(tp, expected)
                    continue
                messages.extend(SourceMessage(r.topic, r.partition, r.offset, r.key, r.value)
                                for r in records)
                commits[tp] = records[-1].offset + 1
            if not messages:
                return
            await self._process(messages)
            # Only now, with every row stored and every message acknowledged.
            try:
                await self.consumer.commit(commits)
            except (CommitFailedError, IllegalStateError) as exc:
                # The group moved on without this member (its session expired): the partitions'
                # next owners process these messages again, to the same rows.
                log.warning("commit refused (%r): dropping partitions %s", exc,
                            sorted(tp.partition for tp in commits))
                self._generation += 1
                self.core.drop_partitions(tp.partition for tp in commits)
                for tp in commits:
                    self._next.pop(tp.partition, None)
                return
            for tp, offset in commits.items():
                self._next[tp.partition] = offset

    async def _process(self, messages: Sequence[SourceMessage]) -> None:
        """Process and write messages; return only when all of it is stored and acknowledged.

        Work goes in parts, so that ClickHouse stores one part (on another core) while this
        computes the next; each part's rows are stored before its messages are sent, and parts
        are sent in order. A message that needs its venue's history is traced in the ClickHouse
        thread, after the writes before it.
        """
        loop = asyncio.get_running_loop()
        assert self.producer is not None
        sent = Deliveries(self.producer, renew=self._renew_producer, stopping=self._stopping)
        previous: tuple[StepOutput, asyncio.Future[None]] | None = None
        for part in in_parts(messages, self._part_bytes):
            pending: Sequence[SourceMessage] = part
            while pending:
                out, done = self.core.process(pending)
                pending = pending[done:]
                if previous is not None:
                    await self._publish(sent, *previous)
                previous = out, loop.run_in_executor(self._sink_thread, self.sink.write, out.rows)
                if pending:
                    late = await loop.run_in_executor(
                        self._sink_thread, self.core.process_late, pending[0], self.history)
                    self.late_messages += 1
                    LATE_MESSAGES.inc()
                    await self._publish(sent, *previous)
                    previous = late, loop.run_in_executor(
                        self._sink_thread, self.sink.write, late.rows)
                    pending = pending[1:]
        if previous is not None:
            await self._publish(sent, *previous)
        await sent.acknowledged()

    async def _renew_producer(self) -> AIOKafkaProducer:
        self.producer = await fresh_producer(self.settings, self.producer, self._stopping)
        return self.producer

    async def _publish(self, sent: Deliveries, out: StepOutput,
                       written: asyncio.Future[None]) -> None:
        # ClickHouse first: whoever reacts to a contacts message (the alerts worker) reads
        # ClickHouse next and must find the change there.
        await written
        contacts = self.settings.topic("contacts")
        for venue_key, value in out.contacts:
            await sent.send(contacts, value, venue_key)
        dead_letter = self.settings.topic("dead-letter")
        for letter in out.dead_letters:
            log.warning("dead-lettered %s[%d]@%d: %s", letter.source_topic, letter.partition,
                        letter.offset, letter.reason,
                        extra={"topic": letter.source_topic, "partition": letter.partition,
                               "offset": letter.offset})
            DEAD_LETTERS.labels("tracer", letter.source_topic).inc()
            await sent.send(dead_letter, letter.model_dump_json().encode(),
                            (letter.key or "").encode())
        self.processed_scans += out.scans_seen
        SCANS_PROCESSED.inc(out.scans_seen)
        VISIT_CHANGES.inc(len(out.rows.visits))
        CONTACT_CHANGES.inc(len(out.rows.contacts))

    # ------------------------------------------------------------------ rebalances

    async def partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # A batch fetched before this is not processed (the generation moved on); one already
        # being processed is waited for: it commits before it lets go of the lock.
        self._generation += 1
        async with self._lock:
            pass

    async def partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        assert self.consumer is not None
        self._generation += 1
        async with self._lock:
            mine = {tp.partition for tp in assigned if tp.topic == self.scans_topic}
            self._to_restore &= mine
            gone = set(self._next) - mine
            self.core.drop_partitions(gone)
            for partition in gone:
                del self._next[partition]
            for partition in sorted(mine):
                committed = await self.consumer.committed(
                    TopicPartition(self.scans_topic, partition))
                if partition in self._next and committed == self._next[partition]:
                    # Held here through the rebalance, nobody moved it meanwhile. The fetch
                    # position may be past it (a batch fetched, then not processed): back to it.
                    self.consumer.seek(TopicPartition(self.scans_topic, partition), committed)
                    continue
                self._next.pop(partition, None)
                self.core.drop_partitions([partition])
                self._to_restore.add(partition)

    async def _restore_assigned(self) -> None:
        if not self._to_restore:
            return
        partitions, self._to_restore = sorted(self._to_restore), set()
        for partition in partitions:
            await self._restore(partition)

    async def _restore(self, partition: int) -> None:
        """Rebuild a partition's hot state from ``scans``, from the first message produced in
        the window to the committed offset (restore time bounded by the hot window)."""
        assert self.consumer is not None
        s = self.settings
        started = time.monotonic()
        tp = TopicPartition(self.scans_topic, partition)
        committed = await self.consumer.committed(tp)
        now = int(time.time())
        # Every scan at or after `held_from` was produced at or after `held_from - skew`.
        held_from = now - s.tracer_hot_s - s.max_dwell_s
        begin = (await self.consumer.beginning_offsets([tp]))[tp]
        if committed is None or committed <= begin:
            self._next[partition] = begin if committed is None else committed
            self.consumer.seek(tp, self._next[partition])
            self.core.restore(partition, [], None, now - s.retention_s)
            return
        found = (await self.consumer.offsets_for_times(
            {tp: (held_from - s.max_clock_skew_s) * 1000}))[tp]
        start = committed if found is None else max(begin, min(found.offset, committed))
        messages = await self._read(tp, start, committed)
        whole_log = start <= begin
        self.core.restore(partition, messages, None if whole_log else held_from,
                          now - s.retention_s)
        if not whole_log:
            self.core.evict_before(now - s.tracer_hot_s)
            firsts = self.core.leading_outs(partition)
            loop = asyncio.get_running_loop()
            before = await loop.run_in_executor(self._sink_thread, self.history.latest_before,
                                                firsts)
            self.core.restore_predecessors(partition, [b for b in before if b.direction == "in"])
        self._next[partition] = committed
        self.consumer.seek(tp, committed)
        log.info("partition %d: restored %d messages (offsets %d..%d) in %.2fs, %d scans held",
                 partition, len(messages), start, committed - 1, time.monotonic() - started,
                 self.core.held_scans())

    async def _read(self, tp: TopicPartition, start: int, end: int) -> list[SourceMessage]:
        """The messages of ``tp`` at offsets ``[start, end)``, with a consumer of no group."""
        reader = AIOKafkaConsumer(**kafka_options(self.settings),
                                  enable_auto_commit=False, group_id=None,
                                  max_partition_fetch_bytes=MAX_MESSAGE_BYTES,
                                  fetch_max_bytes=4 * MAX_MESSAGE_BYTES)
        await reader.start()
        try:
            reader.assign([tp])
            reader.seek(tp, start)
            messages: list[SourceMessage] = []
            while (messages[-1].offset + 1 if messages else start) < end:
                batch = await reader.getmany(tp, timeout_ms=1000)
                for record in batch.get(tp, []):
                    if record.offset < end:
                        messages.append(SourceMessage(record.topic, record.partition,
                                                      record.offset, record.key, record.value))
                if not batch and await reader.position(tp) >= end:
                    break  # the rest were transaction markers or compacted away
            return messages
        finally:
            await reader.stop()

    # ------------------------------------------------------------------ timers

    async def _heartbeat(self) -> None:
        write_heartbeat(self.settings, "tracer", self.processed_scans)
        HELD_SCANS.set(self.core.held_scans())
        if self.consumer is not None:
            await record_lag(self.consumer, self.group_id, {
                TopicPartition(self.scans_topic, p): offset for p, offset in self._next.items()})

    async def _evict(self) -> None:
        async with self._lock:
            evicted = self.core.evict_before(int(time.time()) - self.settings.tracer_hot_s)
        if evicted:
            log.info("hot window: let go of %d scans, %d held", evicted, self.core.held_scans())

    async def _collect(self) -> None:
        started = time.monotonic()
        found = gc.collect()
        release_free_memory()
        log.debug("full garbage collection: %d objects in %.2fs", found,
                  time.monotonic() - started)

    async def _purge(self) -> None:
        await self.purge(int(time.time()) - self.settings.retention_s)

    async def purge(self, cutoff: int) -> None:
        """Forget scans older than ``cutoff`` here and in ClickHouse, and refuse them (rule 10)."""
        async with self._lock:
            forgotten = self.core.forget_before(cutoff)
            dropped = await asyncio.get_running_loop().run_in_executor(
                self._sink_thread, self.sink.drop_days_before, utc_day(cutoff))
        log.info("retention: forgot %d scans, dropped partitions %s", forgotten, dropped)


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    configure_process(settings, loglevel, "tracer", settings.tracer_metrics_port)
    gc.set_threshold(*GC_THRESHOLDS)
    asyncio.run(serve(TracerWorker(settings)))
