"""The alerts worker: a plain aiokafka group consumer over ``cases`` and ``contacts``.

A batch loop, like the tracer's (``services/tracer/app.py``): fetch (``getmany``), decode, ask
:class:`AlertEngine`, publish, then commit exactly the offset after the last message of each
partition, once every alert, retraction and dead letter of the batch is acknowledged by the
broker and written to ClickHouse. For each case, changed alerts go to the ``alerts`` topic first
and to ClickHouse second: after a crash, the replayed input is diffed against what ClickHouse
holds, so an alert is re-sent only if it may not have been written (never lost, at worst
repeated with the same ``alert_id``). aiokafka delivers each partition in order from its
position and commits what it is told, so a re-fetched case report is processed again, never
passed over as already seen (faust-streaming #115, #216, #221).

Beside the loop, :class:`VenueCopy` keeps ClickHouse's ``venues`` (names, kinds, rules for the
dashboard and Grafana) a copy of the venue records of the ``registry`` topic.

One worker serves the whole deployment: ``cases`` has a single partition and every open case
must see every contact change. Its state, the open cases and their published alerts, is loaded
from ClickHouse before the first batch and again after every change of assignment.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.structs import ConsumerRecord
from pydantic import TypeAdapter, ValidationError

from schemas.cases import CaseReported, CaseWithdrawn
from schemas.common import Op
from schemas.derived import ContactBatch
from services.alerts.domain import DomainError
from services.alerts.domain.engine import AlertChanges, AlertEngine
from services.alerts.worker.store import AlertStore
from services.alerts.worker.venues import VenueCopy
from services.alerts.worker.wire import alert_message, case_of
from services.core.config import Settings
from services.core.deadletter import dead_letter
from services.core.worker import (
    Rebalance,
    acknowledged_producer,
    configure_process,
    every,
    manual_commit_consumer,
    serve,
    write_heartbeat,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
SERVICE = "alerts"
HEARTBEAT_EVERY_S = 5.0
CLOSE_OLD_CASES_EVERY_S = 3600.0
_CASE_EVENT = TypeAdapter[CaseReported | CaseWithdrawn](CaseReported | CaseWithdrawn)

Batch = dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]


class AlertsWorker:
    """Wires the consumer, the producer, the ClickHouse store and the engine together."""

    def __init__(self, settings: Settings, *, take: int = 2000, gather_s: float = 1.0,
                 fetch_wait_ms: int = 250) -> None:
        self.settings = settings
        self.store = AlertStore(settings)
        self.engine = AlertEngine(settings.max_degree, settings.retention_s)
        # Its own store (own connection): it runs beside the batch loop.
        self.venues = VenueCopy(settings, AlertStore(settings))
        self._take, self._gather_s, self._fetch_wait_ms = take, gather_s, fetch_wait_ms
        self.group_id = f"{settings.topic_prefix}truyvet-alerts"
        self.cases_topic = settings.topic("cases")
        self.contacts_topic = settings.topic("contacts")
        self.alerts_topic = settings.topic("alerts")
        self.dead_letter_topic = settings.topic("dead-letter")
        # Held while a batch is processed and committed; a rebalance and the timers wait for it.
        self._lock = asyncio.Lock()
        self._generation = 0
        self._reload = True  # the engine is (re)loaded from ClickHouse before the next batch
        self._version = 0
        self._sent: list[asyncio.Future[Any]] = []  # sends of the batch not yet awaited
        self._stopping = asyncio.Event()
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None

    # ------------------------------------------------------------------ life cycle

    async def run(self) -> None:
        s = self.settings
        self.producer = acknowledged_producer(s)
        self.consumer = manual_commit_consumer(
            s, self.group_id,
            # A killed worker's partitions move to its replacement after this long.
            session_timeout_ms=10_000, heartbeat_interval_ms=2_000,
            # A big case, or loading every open case, may keep the loop from fetching a while.
            max_poll_interval_ms=600_000,
        )
        await self.producer.start()
        self.consumer.subscribe([self.cases_topic, self.contacts_topic],
                                listener=Rebalance(self))
        await self.consumer.start()
        timers = [asyncio.create_task(every(HEARTBEAT_EVERY_S, self._heartbeat)),
                  asyncio.create_task(every(CLOSE_OLD_CASES_EVERY_S, self._close_old_cases)),
                  asyncio.create_task(self.venues.run(), name="venue-copy")]
        try:
            await self._heartbeat()
            while not self._stopping.is_set():
                await self._step()
        finally:
            for timer in timers:
                timer.cancel()
            await asyncio.gather(*timers, return_exceptions=True)
            await self.consumer.stop()  # leaves the group: its partitions move at once
            await self.producer.stop()
            self.store.close()
            self.venues.close()

    def stop(self) -> None:
        self._stopping.set()

    # ------------------------------------------------------------------ the batch loop

    async def _step(self) -> None:
        assert self.consumer is not None
        generation = self._generation
        batch = await self._fetch()
        async with self._lock:
            if generation != self._generation:
                # A rebalance came between the fetch and now: every partition was sought back
                # to its committed offset, so this batch is fetched again.
                return
            assigned = self.consumer.assignment()
            cases: list[ConsumerRecord[bytes, bytes]] = []
            contacts: list[ConsumerRecord[bytes, bytes]] = []
            commits: dict[TopicPartition, int] = {}
            for tp, records in sorted(batch.items()):
                if not records or tp not in assigned:
                    continue
                (cases if tp.topic == self.cases_topic else contacts).extend(records)
                commits[tp] = records[-1].offset + 1
            if not commits:
                return
            if self._reload:
                await self._load()
            for record in cases:
                await self._case(record)
            await self._contacts(contacts)
            await self._acknowledged()
            # Only now, with every alert and dead letter acknowledged and every row stored.
            try:
                await self.consumer.commit(commits)
            except (CommitFailedError, IllegalStateError) as exc:
                # The group moved on without this member: the partitions' next owner processes
                # these messages again, to the same alerts.
                log.warning("commit refused (%r); reloading the open cases", exc)
                self._generation += 1
                self._reload = True

    async def _fetch(self) -> Batch:
        """A batch; contact changes are gathered for up to ``gather_s``, so a busy stream
        re-traces each touched case once per gathering at most, while a case goes at once."""
        assert self.consumer is not None
        batch: Batch = await self.consumer.getmany(timeout_ms=self._fetch_wait_ms,
                                                   max_records=self._take)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._gather_s
        while batch and not self._stopping.is_set():
            count = sum(len(records) for records in batch.values())
            left = deadline - loop.time()
            if left <= 0 or count >= self._take or any(
                    tp.topic == self.cases_topic and records for tp, records in batch.items()):
                break
            more = await self.consumer.getmany(timeout_ms=max(1, int(left * 1000)),
                                               max_records=self._take - count)
            for tp, records in more.items():
                batch.setdefault(tp, []).extend(records)
        return batch

    async def _case(self, record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            message = _CASE_EVENT.validate_json(record.value or b"")
            case = case_of(message) if isinstance(message, CaseReported) else None
        except (ValidationError, DomainError, ValueError) as exc:
            await self._dead(record, f"not a case event: {exc}")
            return
        if isinstance(message, CaseWithdrawn):
            await self._withdraw(message)
        else:
            assert case is not None
            changes = await self._off_loop(
                lambda: self.engine.report(case, self.store.edges_of, _now()))
            # Alerts first (the latency that matters), the case row after: a replay after a
            # crash re-traces the case anyway, since its offset is committed only after both.
            await self._publish(changes)
            await self._off_loop(
                lambda: self.store.write_case(case, "reported", None, self._next()))

    async def _contacts(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        persons: set[str] = set()
        for record in records:
            try:
                batch = ContactBatch.model_validate_json(record.value or b"")
            except ValidationError as exc:
                await self._dead(record, f"not a ContactBatch: {exc}")
                continue
            persons.update(batch.people)
        for case_id in sorted(self.engine.cases_touched_by(persons)):
            changes = await self._off_loop(partial(self._recompute, case_id))
            await self._publish(changes)

    # ------------------------------------------------------------------ steps

    def _recompute(self, case_id: str) -> AlertChanges:
        return self.engine.recompute(case_id, self.store.edges_of, _now())

    async def _withdraw(self, message: CaseWithdrawn) -> None:
        """Retract the case's live alerts, then write the case row as ``withdrawn``.

        In that order: the row is what tells a restarted worker the case is no longer open, so
        it is written only once every retraction is acknowledged and stored. A replay (after a
        crash, or of a case withdrawn before) retracts whatever alerts of the case ClickHouse
        still holds live, so a withdrawal is idempotent.
        """
        case_id = message.case_id
        open_case = self.engine.cases.get(case_id)
        if open_case is not None:
            case = open_case.case
            changes = self.engine.withdraw(case_id)
        else:
            stored = await self._off_loop(lambda: self.store.case_of(case_id))
            if stored is None:
                log.warning("case %s withdrawn but never reported: nothing to retract", case_id)
                return
            case, status = stored
            live = await self._off_loop(lambda: self.store.live_alerts({case_id}))
            changes = AlertChanges(case_id, retractions=tuple(live.get(case_id, [])))
        await self._publish(changes)
        if open_case is None and status == "withdrawn":
            return  # the row already says so, with the first withdrawal's time
        withdrawn_at = int(message.withdrawn_at.timestamp())
        await self._off_loop(
            lambda: self.store.write_case(case, "withdrawn", withdrawn_at, self._next())
        )

    async def _publish(self, changes: AlertChanges) -> None:
        """Send one case's changes, wait for the broker's acknowledgement, then store them."""
        if not changes:
            return
        key = changes.case_id.encode()
        for op, items in ((Op.UPSERT, changes.upserts), (Op.RETRACT, changes.retractions)):
            for alert, created_at in items:
                await self._send(self.alerts_topic, key, alert_message(alert, created_at, op))
        await self._acknowledged()
        rows = [(a, c, False) for a, c in changes.upserts]
        rows += [(a, c, True) for a, c in changes.retractions]
        await self._off_loop(lambda: self.store.write_alerts(rows, self._next()))
        log.info(
            "case %s: %d alert(s) raised or changed, %d withdrawn",
            changes.case_id,
            len(changes.upserts),
            len(changes.retractions),
        )

    async def _send(self, topic: str, key: bytes | None, value: bytes) -> None:
        assert self.producer is not None
        self._sent.append(await self.producer.send(topic, value, key=key))

    async def _acknowledged(self) -> None:
        """Return once the broker has acknowledged every message sent so far."""
        sent, self._sent = self._sent, []
        await asyncio.gather(*sent)

    async def _dead(self, record: ConsumerRecord[bytes, bytes], reason: str) -> None:
        letter = dead_letter(
            service=SERVICE,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            reason=reason,
        )
        log.warning("dead-lettered %s[%d]@%d: %s", record.topic, record.partition,
                    record.offset, reason[:200])
        await self._send(self.dead_letter_topic, record.key, letter.model_dump_json().encode())

    async def _load(self) -> None:
        since = _now() - self.settings.retention_s
        engine = AlertEngine(self.settings.max_degree, self.settings.retention_s)
        for case, alerts in await self._off_loop(lambda: self.store.open_cases(since)):
            engine.load(case, alerts)
        self.engine = engine
        self._reload = False
        log.info("loaded %d open case(s) from ClickHouse", len(engine.cases))

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
            # Another member may have processed cases meanwhile: the open cases are read back.
            self._reload = True
            for tp in assigned:
                committed = await self.consumer.committed(tp)
                if committed is not None:
                    self.consumer.seek(tp, committed)

    # ------------------------------------------------------------------ timers

    async def _heartbeat(self) -> None:
        write_heartbeat(self.settings, "alerts-worker", len(self.engine.cases))

    async def _close_old_cases(self) -> None:
        async with self._lock:
            closed = self.engine.close_reported_before(_now() - self.settings.retention_s)
        if closed:
            log.info("retention: stopped watching %d case(s)", len(closed))

    def _next(self) -> int:
        # Row versions: increasing within this worker and across restarts (wall clock in µs).
        self._version = max(self._version + 1, time.time_ns() // 1000)
        return self._version

    @staticmethod
    async def _off_loop(call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(None, call)


def _now() -> int:
    return int(time.time())


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    configure_process(settings, loglevel)
    asyncio.run(serve(AlertsWorker(settings)))
