"""Every read of per-person data, recorded before it is answered (rule: every such read audited).

An entry goes to the ``audit`` topic (the log of record, kept ``TRUYVET_AUDIT_RETENTION_DAYS``)
and to the append-only ClickHouse ``audit`` table that ``truyvet audit`` lists. If either write
fails the read is refused (503): an unrecorded read of a person is worse than no answer.
"""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaProducer

from schemas.audit import AuditEntry, AuditRead
from schemas.cases import CaseReported
from schemas.common import utc_now
from services.alerts.queries import AlertsQueries
from services.core.config import Settings
from services.core.http.auth import Principal
from services.core.kafka_connection import kafka_options


class AuditLog:
    def __init__(self, settings: Settings, queries: AlertsQueries) -> None:
        self._settings = settings
        self._queries = queries
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(**kafka_options(self._settings),
                                          acks="all", enable_idempotence=True,
                                          client_id="truyvet-alerts-audit")
        await self._producer.start()

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()

    async def publish_case(self, event: CaseReported) -> None:
        """A case reported from a positive contact's follow-up, on the ``cases`` topic like
        ingest's (the identifier is already the pseudonym of the alert)."""
        assert self._producer is not None, "AuditLog.start() was not awaited"
        await self._producer.send_and_wait(self._settings.topic("cases"),
                                           key=event.case_id.encode(),
                                           value=event.model_dump_json().encode())

    async def record(self, who: Principal, what: AuditRead, *, case_id: str | None,
                     people: int, subject: str = "") -> AuditEntry:
        assert self._producer is not None, "AuditLog.start() was not awaited"
        entry = AuditEntry(audit_id=uuid.uuid4().hex, at=utc_now(),
                           token_id=who.token_id or who.role.value, role=who.role.value,
                           what=what, case_id=case_id, subject=subject, people=people)
        await self._producer.send_and_wait(self._settings.topic("audit"),
                                           key=(case_id or "").encode(),
                                           value=entry.model_dump_json().encode())
        await self._queries.record_audit(entry)
        return entry
