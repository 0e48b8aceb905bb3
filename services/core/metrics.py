"""The Prometheus metrics of every truyvet process, named by Prometheus' conventions.

One family per fact, in the process's default registry (prometheus-client's usual way): the HTTP
services serve it at ``/metrics`` (:func:`metrics_app`), the workers on a port of their own
(:func:`serve_worker_metrics`, ``TRUYVET_TRACER_METRICS_PORT`` /
``TRUYVET_ALERTS_WORKER_METRICS_PORT``). Defining a family starts nothing; serving them is done
by the service when it starts. Figures only: no metric carries a person, a case id or a token.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

CASE_ALERT_BAR_S = 1.0
"""The quality bar: a case reported → all its alerts on the ``alerts`` topic, p99 under this."""

# --- HTTP (both services) ---------------------------------------------------------------------
HTTP_REQUESTS = Counter(
    "truyvet_http_requests_total", "HTTP requests answered, by route template and status.",
    ["service", "method", "route", "status"])
HTTP_DURATION = Histogram(
    "truyvet_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer (an SSE stream: until it closes).",
    ["service", "method", "route"])

# --- ingest -------------------------------------------------------------------------------------
SCANS_ACCEPTED = Counter("truyvet_ingest_scans_accepted_total",
                         "Scans accepted by ingest, each acknowledged by Kafka.")
SCANS_REFUSED = Counter("truyvet_ingest_scans_refused_total",
                        "Scans refused by ingest with a reason (bad time, duplicate id, ...).")

# --- the workers' consumers -------------------------------------------------------------------
CONSUMER_LAG = Gauge(
    "truyvet_consumer_lag_messages",
    "Messages of a partition after the group's committed offset (the high watermark minus it).",
    ["group", "topic", "partition"])

# --- the tracer -------------------------------------------------------------------------------
SCANS_PROCESSED = Counter("truyvet_tracer_scans_processed_total",
                          "Scans the tracer decoded, traced, stored and committed.")
VISIT_CHANGES = Counter("truyvet_tracer_visit_changes_total",
                        "Visit rows written: visits that appeared, and retractions of visits.")
CONTACT_CHANGES = Counter("truyvet_tracer_contact_changes_total",
                          "Contact rows written: contacts that appeared, and their retractions.")
LATE_MESSAGES = Counter("truyvet_tracer_late_messages_total",
                        "Scans messages traced against the history in ClickHouse.")
HELD_SCANS = Gauge("truyvet_tracer_held_scans",
                   "Scans held in the tracer's hot window (its memory grows with this).")

# --- the alerts worker ------------------------------------------------------------------------
CASE_EVENTS = Counter("truyvet_alerts_case_events_total",
                      "Case reports and withdrawals processed.", ["kind"])
CONTACT_MESSAGES = Counter("truyvet_alerts_contact_messages_total",
                           "Contact change messages of the tracer processed.")
ALERTS_PUBLISHED = Counter("truyvet_alerts_published_total",
                           "Alert messages published and stored, by op (upsert, retract).",
                           ["op"])
CASE_ALERT_LATENCY = Histogram(
    "truyvet_case_alert_latency_seconds",
    "From a case report entering Kafka to its alerts acknowledged by the broker and stored.",
    buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0, 60.0))
OPEN_CASES = Gauge("truyvet_alerts_open_cases",
                   "Cases the alerts worker watches (reported, not withdrawn, within retention).")

# --- shared -----------------------------------------------------------------------------------
DEAD_LETTERS = Counter("truyvet_dead_letters_total",
                       "Messages sent to dead-letter, by service and source topic.",
                       ["service", "topic"])
CLICKHOUSE_INSERT = Histogram(
    "truyvet_clickhouse_insert_duration_seconds", "Time of one ClickHouse INSERT that succeeded.",
    ["table"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
CLICKHOUSE_INSERT_ERRORS = Counter(
    "truyvet_clickhouse_insert_errors_total", "ClickHouse INSERTs that failed (then retried).",
    ["table"])
SSE_CLIENTS = Gauge("truyvet_sse_clients", "Open server-sent alert streams.")


def observed_insert(client: Any, table: str, query: str, rows: Any, **options: Any) -> Any:
    """``client.execute(query, rows, **options)``, timed; a failure is counted and re-raised."""
    started = time.perf_counter()
    try:
        result = client.execute(query, rows, **options)
    except Exception:
        CLICKHOUSE_INSERT_ERRORS.labels(table).inc()
        raise
    CLICKHOUSE_INSERT.labels(table).observe(time.perf_counter() - started)
    return result


async def record_lag(consumer: AIOKafkaConsumer, group: str,
                     committed: Mapping[TopicPartition, int] | None = None) -> None:
    """Set the lag of each partition assigned to ``consumer``: high watermark minus committed.

    ``committed`` are offsets the worker knows it committed; others are asked of the group. A
    partition not fetched yet (no high watermark known) is left out until it is, and one no
    longer assigned is dropped (its new owner reports it).
    """
    reported: set[tuple[str, str]] = set()
    for tp in consumer.assignment():
        end = consumer.highwater(tp)
        if end is None:
            continue
        done = committed.get(tp) if committed is not None else None
        if done is None:
            done = await consumer.committed(tp) or 0
        labels = (tp.topic, str(tp.partition))
        CONSUMER_LAG.labels(group, *labels).set(max(0, end - done))
        reported.add(labels)
    for labels in _lag_reported.get(group, set()) - reported:
        CONSUMER_LAG.remove(group, *labels)
    _lag_reported[group] = reported


_lag_reported: dict[str, set[tuple[str, str]]] = {}


def serve_worker_metrics(host: str, port: int) -> None:
    """Serve ``/metrics`` of a worker on ``host:port`` in a thread (port 0: not served)."""
    if port:
        start_http_server(port, addr=host)
        log.info("metrics on http://%s:%d/metrics", host, port)
