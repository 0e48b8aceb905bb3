"""The alerts worker: a group consumer over ``cases`` and a reader of every ``contacts`` partition.

A batch loop, like the tracer's (``services/tracer/app.py``): fetch (``getmany``), decode, ask
:class:`AlertEngine`, publish, then commit exactly the offset after the last ``cases`` message
of each partition, once every alert, retraction and dead letter of the batch is acknowledged by
the broker and written to ClickHouse. For each case, changed alerts go to the ``alerts`` topic
first and to ClickHouse second: after a crash, the replayed input is diffed against what
ClickHouse holds, so an alert is re-sent only if it may not have been written (never lost, at
worst repeated with the same ``alert_id``). aiokafka delivers each partition in order from its
position and commits what it is told, so a re-fetched case report is processed again, never
passed over as already seen (faust-streaming #115, #216, #221).

Scale-out: ``cases`` is keyed by case id, and the workers of one group share its partitions; a
worker holds the open cases of its partitions only. Every open case must see every contact
change, so each worker reads all of ``contacts``, by manual assignment rather than a group of
its own: a group would split the partitions between its members, and a per-worker group would
leave a committed position behind for every worker that ever ran, for nothing — the position
need not survive a restart. A worker that gains a ``cases`` partition loads its open cases from
ClickHouse and re-traces them there and then; the tracer stores contacts before it announces
them, so every change announced before that moment is in the re-trace, and every change after
it is read from ``contacts``, where the worker's position was fixed before. A worker that loses
a partition forgets its cases (their alerts stay; the new owner re-traces them).

Beside the loop, :class:`VenueCopy` keeps ClickHouse's ``venues`` (names, kinds, rules for the
dashboard and Grafana) a copy of the venue records of the ``registry`` topic.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from aiokafka.partitioner import murmur2
from aiokafka.structs import ConsumerRecord
from pydantic import TypeAdapter, ValidationError

from schemas.cases import CaseReported, CaseWithdrawn
from schemas.common import Op
from schemas.derived import ContactBatch
from schemas.exposure_events import ExposureDeclared, ExposureWithdrawn
from services.alerts.domain import AlertChanges, AlertEngine, DomainError
from services.alerts.domain.risk import RiskWeights
from services.alerts.domain.venue_engine import EventEngine
from services.alerts.domain.venue_events import VenueEvent
from services.alerts.worker.clusters import ClusterWatch
from services.alerts.worker.directory import DirectoryCopy
from services.alerts.worker.store import AlertStore
from services.alerts.worker.venues import VenueCopy
from services.alerts.worker.wire import alert_message, case_of, event_of
from services.core.config import Settings
from services.core.deadletter import dead_letter
from services.core.metrics import (
    ALERTS_PUBLISHED,
    CASE_ALERT_LATENCY,
    CASE_EVENTS,
    CONTACT_MESSAGES,
    DEAD_LETTERS,
    OPEN_CASES,
    record_lag,
)
from services.core.worker import (
    Deliveries,
    Rebalance,
    acknowledged_producer,
    configure_process,
    every,
    fresh_producer,
    manual_commit_consumer,
    serve,
    unassigned_reader,
    write_heartbeat,
)

log = logging.getLogger(__name__)
T = TypeVar("T")
SERVICE = "alerts"
HEARTBEAT_EVERY_S = 5.0
CLOSE_OLD_CASES_EVERY_S = 3600.0
CaseTopicEvent = CaseReported | CaseWithdrawn | ExposureDeclared | ExposureWithdrawn
_CASE_EVENT = TypeAdapter[CaseTopicEvent](CaseTopicEvent)

Batch = dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]


class AlertsWorker:
    """Wires the consumers, the producer, the ClickHouse store and the engine together."""

    def __init__(self, settings: Settings, *, take: int = 2000, gather_s: float = 1.0,
                 fetch_wait_ms: int = 50) -> None:
        self.settings = settings
        self.store = AlertStore(settings)
        risk = RiskWeights(settings.risk_weights, settings.risk_medium_at, settings.risk_high_at)
        self.engine = AlertEngine(settings.max_degree, settings.retention_s, risk)
        # Venue exposure events (rule 11), beside the cases; on the same partitions of `cases`.
        self.events = EventEngine(settings.max_degree, risk)
        self.venue_alerts_paused = False  # the kill switch, read from ClickHouse on a timer
        # The recheck's own connection: it reads outside the lock, beside the batch loop.
        self.recheck_store = AlertStore(settings)
        # Event id -> digest of its venue's visits at its last recheck (see _recheck_events).
        self._event_digests: dict[str, tuple[int, int]] = {}
        self.clusters = ClusterWatch(self.store)
        self.clusters_topic = settings.topic("clusters")
        # Its own store (own connection): it runs beside the batch loop.
        self.venues = VenueCopy(settings, AlertStore(settings))
        self.directory = DirectoryCopy(settings, AlertStore(settings))
        self._take, self._gather_s, self._fetch_wait_ms = take, gather_s, fetch_wait_ms
        self.group_id = f"{settings.topic_prefix}truyvet-alerts"
        self.cases_topic = settings.topic("cases")
        self.contacts_topic = settings.topic("contacts")
        self.alerts_topic = settings.topic("alerts")
        self.dead_letter_topic = settings.topic("dead-letter")
        # Held while a batch is processed and committed; a rebalance and the timers wait for it.
        self._lock = asyncio.Lock()
        self._generation = 0
        self._held: set[int] = set()  # the cases partitions whose open cases the engine holds
        self._gained: set[int] = set()  # assigned, to load and re-trace before the next batch
        self._committed: dict[int, int] = {}  # what this worker last committed, by partition
        # contacts partition -> the offset after the last message applied (no group commits
        # contacts: the heartbeat says how far this worker has read them).
        self._contacts_read: dict[int, int] = {}
        self._case_partitions = 1
        self._version = 0
        self._deliveries: Deliveries | None = None  # sends of the batch not yet acknowledged
        self._stopping = asyncio.Event()
        self.cases: AIOKafkaConsumer | None = None
        self.contacts: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None

    # ------------------------------------------------------------------ life cycle

    async def run(self) -> None:
        s = self.settings
        self.producer = acknowledged_producer(s)
        self.cases = manual_commit_consumer(
            s, self.group_id,
            # A killed worker's partitions move to the others after this long.
            session_timeout_ms=10_000, heartbeat_interval_ms=2_000,
            # A big case, or re-tracing every open case, may keep the loop from fetching a while.
            max_poll_interval_ms=600_000,
        )
        self.contacts = unassigned_reader(s)
        await self.producer.start()
        self._deliveries = Deliveries(self.producer, renew=self._renew_producer,
                                      stopping=self._stopping)
        await self.contacts.start()
        # The contacts position is fixed before any case is loaded (see the module docstring).
        await self._follow_contacts_from_now()
        self.cases.subscribe([self.cases_topic], listener=Rebalance(self))
        await self.cases.start()
        timers = [asyncio.create_task(every(HEARTBEAT_EVERY_S, self._heartbeat)),
                  asyncio.create_task(every(CLOSE_OLD_CASES_EVERY_S, self._close_old_cases)),
                  asyncio.create_task(every(s.exposure_recheck_s, self._recheck_events)),
                  asyncio.create_task(every(s.cluster_check_s, self._look_for_clusters)),
                  asyncio.create_task(self.venues.run(), name="venue-copy"),
                  asyncio.create_task(self.directory.run(), name="directory-copy")]
        try:
            await self._heartbeat()
            self.venue_alerts_paused = await self._off_loop(self.store.venue_alerts_paused)
            while not self._stopping.is_set():
                await self._step()
        finally:
            for timer in timers:
                timer.cancel()
            await asyncio.gather(*timers, return_exceptions=True)
            await self.cases.stop()  # leaves the group: its partitions move at once
            await self.contacts.stop()
            await self.producer.stop()
            self.store.close()
            self.recheck_store.close()
            self.venues.close()
            self.directory.close()

    def stop(self) -> None:
        self._stopping.set()

    async def _follow_contacts_from_now(self) -> None:
        assert self.contacts is not None and self.producer is not None
        # The producer's metadata, waited for (the consumer's answers only once it has some).
        partitions = await self.producer.partitions_for(self.contacts_topic)
        tps = [TopicPartition(self.contacts_topic, p) for p in sorted(partitions)]
        self.contacts.assign(tps)
        await self.contacts.seek_to_end(*tps)
        for tp in tps:  # resolved now, not at the first fetch
            self._contacts_read[tp.partition] = await self.contacts.position(tp)

    # ------------------------------------------------------------------ the batch loop

    async def _step(self) -> None:
        assert self.cases is not None
        generation, cases_batch, contacts_batch = await self._fetch()
        async with self._lock:
            if self._gained:
                await self._take_over()
            cases: list[ConsumerRecord[bytes, bytes]] = []
            commits: dict[TopicPartition, int] = {}
            # A rebalance came between the fetch and now: every cases partition was sought
            # back to its committed offset, so those messages are fetched again. Contact
            # changes are not fetched again: they are applied whatever the assignment.
            if generation == self._generation:
                assigned = self.cases.assignment()
                for tp, records in sorted(cases_batch.items()):
                    if records and tp in assigned:
                        cases.extend(records)
                        commits[tp] = records[-1].offset + 1
            contacts = [r for _, records in sorted(contacts_batch.items()) for r in records]
            for record in cases:
                await self._case(record)
            await self._contacts(contacts)
            await self._acknowledged()
            for tp, records in contacts_batch.items():
                if records:
                    self._contacts_read[tp.partition] = records[-1].offset + 1
            if not commits:
                return
            # Only now, with every alert and dead letter acknowledged and every row stored.
            try:
                await self.cases.commit(commits)
            except (CommitFailedError, IllegalStateError) as exc:
                # The group moved on without this member: the partitions' next owner processes
                # these messages again, to the same alerts.
                log.warning("commit refused (%r); the partitions are taken over again", exc)
                self._generation += 1
                self._committed.clear()
                return
            for tp, offset in commits.items():
                self._committed[tp.partition] = offset

    async def _fetch(self) -> tuple[int, Batch, Batch]:
        """Cases, and contact changes gathered for up to ``gather_s`` since the first, so a busy
        stream re-traces each touched case once per gathering at most; a case goes at once.
        The generation is the one the cases were fetched in."""
        assert self.cases is not None and self.contacts is not None
        loop = asyncio.get_running_loop()
        cases: Batch = {}
        contacts: Batch = {}
        count = 0
        deadline = None
        generation = self._generation
        while not self._stopping.is_set():
            # What the background fetcher holds already: a case never waits for contacts.
            cases = await self.cases.getmany(timeout_ms=0, max_records=self._take)
            generation = self._generation
            if any(cases.values()):
                break
            more = await self.contacts.getmany(timeout_ms=self._fetch_wait_ms,
                                               max_records=self._take - count)
            for tp, records in more.items():
                contacts.setdefault(tp, []).extend(records)
                count += len(records)
            if count and deadline is None:
                deadline = loop.time() + self._gather_s
            if not count or count >= self._take or (deadline and loop.time() >= deadline):
                break
        return generation, cases, contacts

    async def _case(self, record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            message = _CASE_EVENT.validate_json(record.value or b"")
            case = case_of(message) if isinstance(message, CaseReported) else None
        except (ValidationError, DomainError, ValueError) as exc:
            await self._dead(record, f"not a case event: {exc}")
            return
        if isinstance(message, ExposureDeclared | ExposureWithdrawn):
            await self._exposure_event(record, message)
            return
        CASE_EVENTS.labels("withdrawn" if isinstance(message, CaseWithdrawn) else "reported").inc()
        if isinstance(message, CaseWithdrawn):
            await self._withdraw(message)
        else:
            assert case is not None
            changes = await self._off_loop(
                lambda: self.engine.report(case, self.store.edges_of, _now()))
            # Alerts first (the latency that matters), the case row after: a replay after a
            # crash re-traces the case anyway, since its offset is committed only after both.
            await self._publish(changes)
            # From the report entering Kafka to its alerts acknowledged and stored (the bar).
            CASE_ALERT_LATENCY.observe(max(0.0, time.time() - record.timestamp / 1000))
            await self._off_loop(
                lambda: self.store.write_case(case, "reported", None, self._next()))

    async def _contacts(self, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        persons: set[str] = set()
        venues: set[str] = set()
        CONTACT_MESSAGES.inc(len(records))
        for record in records:
            try:
                batch = ContactBatch.model_validate_json(record.value or b"")
            except ValidationError as exc:
                await self._dead(record, f"not a ContactBatch: {exc}")
                continue
            persons.update(batch.people)
            venues.add(batch.venue_id)
        for case_id in sorted(self.engine.cases_touched_by(persons)):
            changes = await self._off_loop(partial(self._recompute, case_id))
            await self._publish(changes)
        # New contacts at an event's venue mean new visits there: re-trace it now rather than
        # at the next recheck (a visit with no contact is found by the recheck).
        if not self.venue_alerts_paused:
            for event_id in sorted(self.events.touched_by(venues, persons)):
                await self._retrace_event(event_id)

    # ------------------------------------------------------------------ exposure events

    async def _exposure_event(self, record: ConsumerRecord[bytes, bytes],
                              message: ExposureDeclared | ExposureWithdrawn) -> None:
        if isinstance(message, ExposureWithdrawn):
            await self._withdraw_event(message.event_id)
            return
        try:
            event = event_of(message)
        except DomainError as exc:
            await self._dead(record, f"not an exposure event: {exc}")
            return
        paused = self.venue_alerts_paused
        self._event_digests.pop(event.event_id, None)  # a correction may change the window
        changes = await self._off_loop(lambda: self.events.declare(
            event, self.store.visits_at, self.store.edges_of, _now(), paused=paused))
        await self._publish(changes, event)
        await self._off_loop(lambda: self.store.write_event(event, "declared", self._next()))

    async def _withdraw_event(self, event_id: str) -> None:
        """Retract the event's live alerts, then store it as withdrawn (like a case: the row
        says the event is closed only once every retraction is stored)."""
        open_event = self.events.events.get(event_id)
        self._event_digests.pop(event_id, None)
        if open_event is not None:
            event = open_event.event
            changes = self.events.withdraw(event_id)
        else:
            stored = await self._off_loop(lambda: self.store.events(event_id))
            if not stored:
                log.warning("exposure event %s withdrawn but never declared", event_id)
                return
            event = stored[0][0]
            live = await self._off_loop(lambda: self.store.live_alerts({event_id}))
            changes = AlertChanges(event_id, retractions=tuple(live.get(event_id, [])))
        await self._publish(changes, event)
        await self._off_loop(lambda: self.store.write_event(event, "withdrawn", self._next()))

    async def _retrace_event(self, event_id: str) -> None:
        open_event = self.events.events[event_id]
        changes = await self._off_loop(lambda: self.events.recompute(
            event_id, self.store.visits_at, self.store.edges_of, _now()))
        await self._publish(changes, open_event.event)

    async def _recheck_events(self) -> None:
        """Read the kill switch; unless paused, re-trace every open event whose venue's visits
        changed since its last recheck (a visit that made no contact announces itself nowhere
        else), publishing what was held back while paused.

        The digest of the venue's visits (one row, read on the recheck's own connection
        outside the lock) decides: an event whose visits are as they were is not re-traced, so
        a declaration never waits behind re-traces that change nothing. Contact changes
        re-trace their events as they come (:meth:`_contacts`), declarations at once.
        """
        paused = await self._off_loop(self.recheck_store.venue_alerts_paused)
        async with self._lock:
            if paused != self.venue_alerts_paused:
                log.warning("venue alerts %s", "paused" if paused else "resumed")
                # Contact changes were not applied while paused: re-trace everything once.
                self._event_digests.clear()
            self.venue_alerts_paused = paused
            if paused:
                return
            events = sorted(((eid, oe.event) for eid, oe in self.events.events.items()),
                            key=lambda kv: kv[0])
        for event_id in list(self._event_digests):
            if event_id not in self.events.events:
                del self._event_digests[event_id]
        # One event at a time, letting the batch loop in between: a new case or declaration
        # waits for one re-trace at most, not for all of them.
        for event_id, event in events:
            digest = await self._off_loop(partial(
                self.recheck_store.visits_digest, event.venue_id, event.start, event.end))
            async with self._lock:
                if (event_id not in self.events.events or self.venue_alerts_paused
                        or self._event_digests.get(event_id) == digest):
                    continue
                # Read before the re-trace: a visit stored in between changes the next digest.
                await self._retrace_event(event_id)
                if self.events.events[event_id].event == event:  # not corrected meanwhile
                    self._event_digests[event_id] = digest

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

    async def _publish(self, changes: AlertChanges, event: VenueEvent | None = None) -> None:
        """Send one case's (or exposure event's) changes, wait for the broker's
        acknowledgement, then store them."""
        if not changes:
            return
        key = changes.case_id.encode()
        for op, items in ((Op.UPSERT, changes.upserts), (Op.RETRACT, changes.retractions)):
            for alert, created_at in items:
                await self._send(self.alerts_topic, key,
                                 alert_message(alert, created_at, op, event))
        await self._acknowledged()
        rows = [(a, c, False) for a, c in changes.upserts]
        rows += [(a, c, True) for a, c in changes.retractions]
        await self._off_loop(lambda: self.store.write_alerts(rows, self._next()))
        ALERTS_PUBLISHED.labels("upsert").inc(len(changes.upserts))
        ALERTS_PUBLISHED.labels("retract").inc(len(changes.retractions))
        log.info(
            "case %s: %d alert(s) raised or changed, %d withdrawn",
            changes.case_id,
            len(changes.upserts),
            len(changes.retractions),
        )

    async def _send(self, topic: str, key: bytes | None, value: bytes) -> None:
        assert self._deliveries is not None
        await self._deliveries.send(topic, value, key)

    async def _acknowledged(self) -> None:
        """Return once the broker has acknowledged every message sent so far (a batch that
        fails goes again, in order: an alert message is the alert's whole state)."""
        assert self._deliveries is not None
        await self._deliveries.acknowledged()

    async def _renew_producer(self) -> AIOKafkaProducer:
        self.producer = await fresh_producer(self.settings, self.producer, self._stopping)
        return self.producer

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
                    record.offset, reason[:200],
                    extra={"topic": record.topic, "partition": record.partition,
                           "offset": record.offset})
        DEAD_LETTERS.labels(SERVICE, record.topic).inc()
        await self._send(self.dead_letter_topic, record.key, letter.model_dump_json().encode())

    async def _take_over(self) -> None:
        """Load the open cases of the gained partitions from ClickHouse and re-trace them.

        The re-trace is what makes a takeover exact: the contact changes the previous owner
        applied, or had fetched and not yet applied, are in ClickHouse by now; and an alert it
        published but had not stored is published and stored again if it still holds.
        """
        gained, self._gained = self._gained, set()
        since = _now() - self.settings.retention_s
        loaded = [
            (case, alerts)
            for case, alerts in await self._off_loop(lambda: self.store.open_cases(since))
            if self.partition_of(case.case_id) in gained
        ]
        self.engine.forget(cid for cid in list(self.engine.cases)
                           if self.partition_of(cid) in gained)
        for case, alerts in loaded:
            self.engine.load(case, alerts)
        events = [event for event, status in await self._off_loop(self.store.events)
                  if status == "declared" and event.end >= since
                  and self.partition_of(event.event_id) in gained]
        self.events.forget(eid for eid in list(self.events.events)
                           if self.partition_of(eid) in gained)
        event_alerts = await self._off_loop(
            lambda: self.store.live_alerts({e.event_id for e in events}))
        for event in events:
            self.events.load(event, event_alerts.get(event.event_id, []))
        started = time.monotonic()
        for case, _ in loaded:
            changes = await self._off_loop(partial(self._recompute, case.case_id))
            await self._publish(changes)
        if not self.venue_alerts_paused:
            for event in events:
                await self._retrace_event(event.event_id)
        self._held |= gained
        log.info("took over cases partitions %s: %d open case(s) re-traced in %.1f s",
                 sorted(gained), len(loaded), time.monotonic() - started)

    def partition_of(self, case_id: str) -> int:
        """The ``cases`` partition of a case (the producers' default partitioner on its id)."""
        return (murmur2(case_id.encode()) & 0x7FFFFFFF) % self._case_partitions

    # ------------------------------------------------------------------ rebalances

    async def partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        # A batch fetched before this is not processed (the generation moved on); one already
        # being processed is waited for: it commits before it lets go of the lock. The cases
        # of the partitions are forgotten only once the new assignment shows which go.
        self._generation += 1
        async with self._lock:
            pass

    async def partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        assert self.cases is not None
        self._generation += 1
        async with self._lock:
            self._case_partitions = len(self.cases.partitions_for_topic(self.cases_topic) or ())
            now: set[int] = set()
            for tp in assigned:
                now.add(tp.partition)
                # Every partition sought explicitly, so a batch fetched before is fetched again.
                committed = await self.cases.committed(tp)
                if committed is None:
                    await self.cases.seek_to_beginning(tp)
                else:
                    self.cases.seek(tp, committed)
                # Kept only if nobody else committed on it meanwhile (this worker may have
                # been out of the group for a while without knowing).
                if committed != self._committed.get(tp.partition):
                    self._held.discard(tp.partition)
            lost = self._held - now
            self.engine.forget(cid for cid in list(self.engine.cases)
                               if self.partition_of(cid) in lost)
            self.events.forget(eid for eid in list(self.events.events)
                               if self.partition_of(eid) in lost)
            self._held &= now
            self._gained = now - self._held
            self._committed = {p: o for p, o in self._committed.items() if p in now}

    # ------------------------------------------------------------------ timers

    async def _heartbeat(self) -> None:
        read = ",".join(f"{p}:{o}" for p, o in sorted(self._contacts_read.items()))
        write_heartbeat(self.settings, "alerts-worker", f"{len(self.engine.cases)} contacts={read}")
        OPEN_CASES.set(len(self.engine.cases))
        if self.cases is not None:
            await record_lag(self.cases, self.group_id)

    async def _look_for_clusters(self) -> None:
        """The owner of ``cases`` partition 0 publishes what changed in the clusters (rule 12):
        to the ``clusters`` topic first, acknowledged, then to ClickHouse."""
        async with self._lock:
            if 0 not in self._held:
                self.clusters.forget()
                return
            since = _now() - self.settings.retention_s
            changes = await self._off_loop(lambda: self.clusters.look(since))
            if not changes:
                return
            now = _now()
            for change in changes:
                await self._send(self.clusters_topic, change.cluster.venue_id.encode(),
                                 change.message(now))
            await self._acknowledged()
            rows = [(c.cluster, c.kind, c.visitors, now, c.deleted) for c in changes]
            await self._off_loop(lambda: self.store.write_clusters(rows, self._next()))
            self.clusters.published(changes)
            log.info("clusters: %d found or changed, %d dissolved",
                     sum(not c.deleted for c in changes), sum(c.deleted for c in changes))

    async def _close_old_cases(self) -> None:
        async with self._lock:
            closed = self.engine.close_reported_before(_now() - self.settings.retention_s)
            closed += self.events.close_ended_before(_now() - self.settings.retention_s)
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
    configure_process(settings, loglevel, "alerts-worker", settings.alerts_worker_metrics_port)
    asyncio.run(serve(AlertsWorker(settings)))
