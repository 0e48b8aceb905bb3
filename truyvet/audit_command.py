"""``truyvet audit --since …``: who reported, withdrew and read per-person data, and when.

Reads of per-person data come from the ClickHouse ``audit`` table (the alerts API writes each one
before it answers); reports and withdrawals from the ``cases`` topic, the log of record of every
case, each with the id of the authority token that sent it. Oldest first, one line each, or
JSON lines with ``--json``. Like ``truyvet trace``, it reads the stores directly: an operator's
tool on the database host.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from kafka import KafkaConsumer, TopicPartition
from pydantic import TypeAdapter, ValidationError
from rich.console import Console

from schemas.cases import CaseReported, CaseWithdrawn
from schemas.exposure_events import ExposureDeclared, ExposureWithdrawn
from services.alerts.queries import ClickHouseReads, StoreUnavailableError
from services.core.clickhouse import clickhouse_client
from services.core.config import Settings
from services.core.kafka_connection import kafka_options

EXIT_OK = 0
EXIT_FAILED = 1

_CaseTopicEvent = CaseReported | CaseWithdrawn | ExposureDeclared | ExposureWithdrawn
_CASE_EVENT = TypeAdapter[_CaseTopicEvent](_CaseTopicEvent)


@dataclass(frozen=True)
class AuditLine:
    at: datetime
    token_id: str
    what: str
    case_id: str
    subject: str = ""
    people: int | None = None

    def text(self) -> str:
        people = "" if self.people is None else f"  {self.people} people"
        subject = f"  {self.subject}" if self.subject else ""
        return (f"{self.at.isoformat()}  token {self.token_id or '?':<16}  {self.what:<12}  "
                f"case {self.case_id or '-'}{subject}{people}")


def audit(settings: Settings, since: datetime, *, as_json: bool = False,
          console: Console | None = None) -> int:
    """Print every audited act at or after ``since``; the exit code."""
    out = console or Console(highlight=False, markup=False, soft_wrap=True)
    try:
        lines = sorted(reads_since(settings, since) + case_acts_since(settings, since),
                       key=lambda line: line.at)
    except StoreUnavailableError as exc:
        out.print(f"cannot read the audit table: {exc}")
        return EXIT_FAILED
    for line in lines:
        out.print(json.dumps(asdict(line), default=str) if as_json else line.text())
    return EXIT_OK


def reads_since(settings: Settings, since: datetime) -> list[AuditLine]:
    reads = ClickHouseReads(clickhouse_client(settings))
    try:
        rows = reads.audit_since(since)
    finally:
        reads.close()
    return [AuditLine(at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC),
                      token_id, f"read {what}", case_id, subject, int(people))
            for at, token_id, _role, what, case_id, subject, people in rows]


def case_acts_since(settings: Settings, since: datetime) -> list[AuditLine]:
    """Reports and withdrawals on the ``cases`` topic since ``since`` (by record time)."""
    consumer = KafkaConsumer(**kafka_options(settings), enable_auto_commit=False,
                             isolation_level="read_committed", consumer_timeout_ms=2000)
    try:
        topic = settings.topic("cases")
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic)
                                                         or [])]
        if not tps:
            return []
        consumer.assign(tps)
        starts = consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in tps})
        ends = consumer.end_offsets(tps)
        for tp in tps:
            found = starts.get(tp)
            consumer.seek(tp, found.offset if found is not None else ends[tp])
        lines = []
        pending = {tp for tp in tps if consumer.position(tp) < ends[tp]}
        while pending:
            batch = consumer.poll(timeout_ms=2000)
            if not batch:
                break
            for tp, records in batch.items():
                for record in records:
                    lines += _case_line(record.value, record.timestamp)
                if consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        return lines
    finally:
        consumer.close()


def _case_line(value: bytes | None, timestamp_ms: int) -> list[AuditLine]:
    try:
        event = _CASE_EVENT.validate_json(value or b"")
    except ValidationError:
        return []  # the alerts worker dead-letters it; nothing was reported by it
    at = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    if isinstance(event, CaseReported):
        return [AuditLine(at, event.reported_by or "", "report", event.case_id)]
    if isinstance(event, ExposureDeclared):
        return [AuditLine(at, event.declared_by or "", "declare exposure event", event.event_id,
                          subject=event.venue_id)]
    if isinstance(event, ExposureWithdrawn):
        return [AuditLine(at, event.withdrawn_by or "", "withdraw exposure event",
                          event.event_id)]
    return [AuditLine(at, event.withdrawn_by or "", "withdraw", event.case_id)]
