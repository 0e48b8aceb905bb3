"""``truyvet exposure …``: declare, correct and withdraw venue exposure events; pause and resume
every venue alert (the kill switch).

Declarations go on the ``cases`` topic exactly as ``POST /v1/exposure-events`` puts them (the
operator's CLI holds the Kafka login, as for ``truyvet venue add``). The switch is the newest row
of ClickHouse's ``exposure_switch``: every alerts worker reads it every
``TRUYVET_EXPOSURE_RECHECK_S`` seconds. While paused, events are still taken and held, no venue
alert is sent; on resume the workers send exactly what the events give by then.
"""

from __future__ import annotations

import getpass
import time
from datetime import datetime

from kafka import KafkaProducer
from pydantic import ValidationError

from schemas.common import utc_now
from schemas.exposure_events import ExposureDeclared, ExposureEventIn, ExposureWithdrawn
from services.core.clickhouse import clickhouse_client, utc
from services.core.config import Settings
from services.core.kafka_connection import kafka_options


class ExposureCommandError(RuntimeError):
    """A refusal to print for the operator (exit code 2)."""


def declare_event(settings: Settings, *, event_id: str, venue_id: str, start: datetime,
                  end: datetime, message: str = "", action: str = "inform",
                  min_presence_s: int = 0, with_contacts: bool = False) -> ExposureDeclared:
    """Declare (or correct, with the same ``event_id``) an exposure event."""
    try:
        body = ExposureEventIn(event_id=event_id, venue_id=venue_id, start=start, end=end,
                               message=message, action=action,
                               min_presence_s=min_presence_s, with_contacts=with_contacts)
    except ValidationError as exc:
        raise ExposureCommandError(str(exc)) from exc
    declared = ExposureDeclared(**body.model_dump(), declared_at=utc_now())
    _send(settings, event_id, declared.model_dump_json().encode())
    return declared


def confirm_cluster(settings: Settings, cluster_id: str, *, message: str = "",
                    action: str = "test", with_contacts: bool = False) -> ExposureDeclared:
    """Declare the exposure event of a cluster (event id ``cluster-<cluster_id>``): its venue,
    from the first of its cases' visits to the start of the last plus the default dwell."""
    client = clickhouse_client(settings)
    try:
        rows = client.execute(
            "SELECT venue_id, toUInt32(started_at), toUInt32(ended_at) FROM (SELECT venue_id,"
            " started_at, ended_at, deleted FROM clusters FINAL WHERE cluster_id = %(c)s)"
            " WHERE deleted = 0", {"c": cluster_id})
    finally:
        client.disconnect()
    if not rows:
        raise ExposureCommandError(f"no current cluster {cluster_id!r}")
    venue_id, start, end = rows[0]
    return declare_event(settings, event_id=f"cluster-{cluster_id}", venue_id=venue_id,
                         start=utc(int(start)), end=utc(int(end) + settings.default_dwell_s),
                         message=message, action=action, with_contacts=with_contacts)


def withdraw_event(settings: Settings, event_id: str) -> ExposureWithdrawn:
    withdrawn = ExposureWithdrawn(event_id=event_id, withdrawn_at=utc_now())
    _send(settings, event_id, withdrawn.model_dump_json().encode())
    return withdrawn


def set_venue_alerts_paused(settings: Settings, paused: bool) -> None:
    """Flip the kill switch; the newest row wins (versions are wall-clock microseconds)."""
    client = clickhouse_client(settings)
    try:
        client.execute(
            "INSERT INTO exposure_switch (paused, changed_at, changed_by, version) VALUES",
            [(int(paused), utc_now(), getpass.getuser(), time.time_ns() // 1000)])
    finally:
        client.disconnect()


def _send(settings: Settings, key: str, value: bytes) -> None:
    producer = KafkaProducer(**kafka_options(settings), acks="all", enable_idempotence=True)
    try:
        producer.send(settings.topic("cases"), key=key.encode(), value=value).get(timeout=30)
    finally:
        producer.close()
