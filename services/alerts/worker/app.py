"""The alerts worker: a Faust app over ``cases`` and ``contacts``.

Agents stay thin: decode, ask :class:`AlertEngine`, publish. One lock serialises the two agents'
work on the shared open cases. For each case, changed alerts go to the ``alerts`` topic first and
to ClickHouse second: after a crash, the replayed input is diffed against what ClickHouse holds,
so an alert is re-sent only if it may not have been written (never lost, at worst repeated with
the same ``alert_id``).

One worker serves the whole deployment: ``cases`` has a single partition and every open case
must see every contact change. Its state is recovered from ClickHouse on start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import faust
from faust.types import SchemaT
from pydantic import TypeAdapter, ValidationError

from schemas.cases import CaseReported, CaseWithdrawn
from schemas.common import Op
from schemas.derived import ContactBatch
from services.alerts.domain import Case, DomainError
from services.alerts.worker.engine import AlertChanges, AlertEngine
from services.alerts.worker.store import AlertStore
from services.alerts.worker.wire import alert_message, case_of
from services.core.config import Settings
from services.core.deadletter import dead_letter
from services.core.faust_app import App

log = logging.getLogger(__name__)
T = TypeVar("T")
SERVICE = "alerts"
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
_CASE_EVENT = TypeAdapter[CaseReported | CaseWithdrawn](CaseReported | CaseWithdrawn)


class AlertsWorker:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = AlertStore(settings)
        self.engine = AlertEngine(settings.max_degree, settings.retention_s)
        self._lock = asyncio.Lock()
        self._loaded = False
        self._version = 0
        self.app = App(
            f"{settings.topic_prefix}truyvet-alerts",
            broker=f"kafka://{settings.kafka_bootstrap}",
            store="memory://",
            datadir=str(Path(settings.state_dir).resolve() / "alerts-data"),
            web_enabled=False,
            topic_allow_declare=False,
            consumer_auto_offset_reset="earliest",
            broker_commit_interval=1.0,
            # A killed worker's partitions move to its replacement after this long, not 60 s.
            broker_session_timeout=10.0,
            broker_heartbeat_interval=2.0,
            producer_acks=-1,
            # Contact batches and dead letters (which carry the refused payload) can be large.
            producer_max_request_size=MAX_MESSAGE_BYTES,
            consumer_max_fetch_size=MAX_MESSAGE_BYTES,
        )
        app = self.app
        raw: SchemaT = faust.Schema(
            key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
        )
        self.cases_topic = app.topic(settings.topic("cases"), schema=raw)
        self.contacts_topic = app.topic(settings.topic("contacts"), schema=raw)
        self.alerts_topic = app.topic(settings.topic("alerts"), schema=raw)
        self.dead_letter_topic = app.topic(settings.topic("dead-letter"), schema=raw)
        app.agent(self.cases_topic, name="cases")(self._cases)
        app.agent(self.contacts_topic, name="contacts")(self._contacts)
        app.timer(interval=5.0)(self._heartbeat)
        app.timer(interval=3600.0)(self._close_old_cases)

    # -- agents ---------------------------------------------------------------------------

    async def _cases(self, stream: Any) -> AsyncIterator[None]:
        async for event in stream.events():
            await self._ensure_loaded()
            try:
                message = _CASE_EVENT.validate_json(event.value)
                case = case_of(message) if isinstance(message, CaseReported) else None
            except (ValidationError, DomainError, ValueError) as exc:
                await self._dead(event, f"not a case event: {exc}")
                yield None
                continue
            async with self._lock:
                if isinstance(message, CaseWithdrawn):
                    await self._withdraw(message)
                else:
                    assert case is not None
                    await self._report(case)
            await self.app.producer.flush()
            yield None

    async def _contacts(self, stream: Any) -> AsyncIterator[None]:
        # Contact changes are gathered for up to a second, so a busy stream re-traces each
        # touched case once per second at most rather than once per message.
        async for events in stream.take_events(2000, within=1.0):
            await self._ensure_loaded()
            persons: set[str] = set()
            for event in events:
                try:
                    batch = ContactBatch.model_validate_json(event.value)
                except ValidationError as exc:
                    await self._dead(event, f"not a ContactBatch: {exc}")
                    continue
                persons.update(batch.people)
            async with self._lock:
                for case_id in sorted(self.engine.cases_touched_by(persons)):
                    changes = await self._off_loop(partial(self._recompute, case_id))
                    await self._publish(changes)
            await self.app.producer.flush()
            yield None

    # -- steps ------------------------------------------------------------------------------

    def _recompute(self, case_id: str) -> AlertChanges:
        return self.engine.recompute(case_id, self.store.edges_of, _now())

    async def _report(self, case: Case) -> None:
        changes = await self._off_loop(
            lambda: self.engine.report(case, self.store.edges_of, _now())
        )
        # Alerts first (the latency that matters), the case row after: a replay after a crash
        # re-traces the case anyway, since its offset is committed only after both.
        await self._publish(changes)
        await self._off_loop(lambda: self.store.write_case(case, "reported", None, self._next()))

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
        if not changes:
            return
        key = changes.case_id.encode()
        for op, items in ((Op.UPSERT, changes.upserts), (Op.RETRACT, changes.retractions)):
            for alert, created_at in items:
                await self.alerts_topic.send(
                    key=key, value=alert_message(alert, created_at, op), force=True
                )
        await self.app.producer.flush()
        rows = [(a, c, False) for a, c in changes.upserts]
        rows += [(a, c, True) for a, c in changes.retractions]
        await self._off_loop(lambda: self.store.write_alerts(rows, self._next()))
        log.info(
            "case %s: %d alert(s) raised or changed, %d withdrawn",
            changes.case_id,
            len(changes.upserts),
            len(changes.retractions),
        )

    async def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        async with self._lock:
            if self._loaded:
                return
            since = _now() - self.settings.retention_s
            for case, alerts in await self._off_loop(lambda: self.store.open_cases(since)):
                self.engine.load(case, alerts)
            log.info("recovered %d open case(s) from ClickHouse", len(self.engine.cases))
            self._loaded = True

    async def _dead(self, event: Any, reason: str) -> None:
        message = event.message
        letter = dead_letter(
            service=SERVICE,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=event.key,
            value=event.value,
            reason=reason,
        )
        log.warning(
            "dead-lettered %s[%d]@%d: %s",
            message.topic,
            message.partition,
            message.offset,
            reason[:200],
        )
        await self.dead_letter_topic.send(
            key=event.key, value=letter.model_dump_json().encode(), force=True
        )

    async def _heartbeat(self) -> None:
        beat = Path(self.settings.state_dir) / "run" / "alerts-worker.heartbeat"
        beat.parent.mkdir(parents=True, exist_ok=True)
        beat.write_text(f"{time.time():.0f} {len(self.engine.cases)}\n")

    async def _close_old_cases(self) -> None:
        async with self._lock:
            closed = self.engine.close_reported_before(
                _now() - self.settings.retention_s
            )
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
    Path(settings.state_dir).mkdir(parents=True, exist_ok=True)
    worker = AlertsWorker(settings)
    faust.Worker(worker.app, loglevel=loglevel).execute_from_commandline()
