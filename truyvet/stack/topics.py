"""The pipeline's Kafka topics: how many partitions each has and how long it keeps messages.

Brokers run with ``auto.create.topics.enable=false``, so these are the only topics there are.
Partition counts bound how far a consumer group can scale out (one consumer per partition), and
they can only grow later (which would move keys between partitions, breaking per-venue order), so
they are chosen up front here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from kafka.admin import KafkaAdminClient

from services.core.config import TOPIC_NAMES, Settings
from services.core.kafka_connection import kafka_options
from truyvet.stack.processes import StackError

# Keyed by the short names of services.core.config.TOPIC_NAMES (use settings.topic(name)).
TOPIC_PARTITIONS: Mapping[str, int] = MappingProxyType(
    {
        "scans": 8,  # keyed by venue_id: up to 8 tracer workers (TRUYVET_SCANS_PARTITIONS)
        "contacts": 8,  # keyed by venue_id, like scans
        "cases": 4,  # keyed by case_id: up to 4 alerts workers (TRUYVET_CASES_PARTITIONS)
        "alerts": 4,
        "dead-letter": 1,
        "registry": 1,  # venues, keys and tokens: small, compacted, read whole at start-up
        "audit": 1,  # who read which per-person data: small, in the order it happened
        "directory": 4,  # sealed identifiers keyed by pseudonym, compacted
        "clusters": 1,  # venues becoming clusters: few, in the order found
    }
)

_DAY_MS = 24 * 3600 * 1000
# Long enough to inspect and replay a poison message; bounded, because a message that could not be
# decoded may still carry identifiers that nothing downstream should keep.
DEAD_LETTER_RETENTION_DAYS = 90
_TOPIC_ADMIN_TIMEOUT_MS = 30_000
_TOPIC_ALREADY_EXISTS = 36  # Kafka protocol error code


def replication_of(brokers: int) -> tuple[int, int]:
    """(replication factor, ``min.insync.replicas``) of every topic on ``brokers`` brokers.

    Three copies where there are three brokers, of which two must hold a message before a
    producer with ``acks=all`` is told it is written: one broker may be lost (or restarted)
    while the pipeline goes on, and no acknowledged message lives on one broker alone.

    >>> replication_of(1), replication_of(2), replication_of(3), replication_of(5)
    ((1, 1), (2, 1), (3, 2), (3, 2))
    """
    if brokers < 1:
        raise ValueError(f"a cluster has at least one broker, not {brokers}")
    factor = min(brokers, 3)
    return factor, max(1, factor - 1)


def partitions_of(name: str, settings: Settings) -> int:
    """How many partitions topic ``name`` is created with (``scans``, ``contacts`` and ``cases``
    as set)."""
    if name in ("scans", "contacts"):
        return settings.scans_partitions
    if name == "cases":
        return settings.cases_partitions
    return TOPIC_PARTITIONS[name]


def topic_configs(name: str, settings: Settings) -> dict[str, str]:
    """The topic-level configs of topic ``name`` (a short name from ``TOPIC_NAMES``)."""
    horizon_ms = str(settings.retention_days * _DAY_MS)
    audit_ms = str(settings.audit_retention_days * _DAY_MS)
    configs: dict[str, dict[str, str]] = {
        # Rule 10: scans and what is derived from them go at the retention horizon. `scans` is
        # the log of record over that horizon: a tracer restores its hot window from it.
        "scans": {"cleanup.policy": "delete", "retention.ms": horizon_ms},
        "contacts": {"cleanup.policy": "delete", "retention.ms": horizon_ms},
        # Cases, alerts and the audit log are kept for the audit period, then go (rule 10).
        "cases": {"cleanup.policy": "delete", "retention.ms": audit_ms, "retention.bytes": "-1"},
        "alerts": {"cleanup.policy": "delete", "retention.ms": audit_ms, "retention.bytes": "-1"},
        "audit": {"cleanup.policy": "delete", "retention.ms": audit_ms, "retention.bytes": "-1"},
        "clusters": {"cleanup.policy": "delete", "retention.ms": audit_ms,
                     "retention.bytes": "-1"},
        "dead-letter": {
            "cleanup.policy": "delete",
            "retention.ms": str(DEAD_LETTER_RETENTION_DAYS * _DAY_MS),
        },
        # The latest record per key is the registry's state; older versions can go.
        "registry": {"cleanup.policy": "compact"},
        # One sealed identifier per pseudonym (the newest), and none older than the horizon:
        # ingest seals a person again while they keep scanning.
        "directory": {"cleanup.policy": "compact,delete", "retention.ms": horizon_ms},
    }
    _, min_insync = replication_of(settings.kafka_brokers)
    return {**configs[name], "min.insync.replicas": str(min_insync)}


def create_topics(settings: Settings, *, timeout_s: float = 30.0) -> list[str]:
    """Create every topic of ``TOPIC_NAMES`` (with ``settings.topic_prefix``) that is missing,
    replicated as ``replication_of(settings.kafka_brokers)`` says.

    Idempotent: existing topics are left as they are. Returns the full names created now, after
    they have a leader for every partition (so a producer can use them right away).
    """
    missing = set(TOPIC_NAMES) - set(TOPIC_PARTITIONS)
    if missing:
        raise StackError(f"no partition count for topics {sorted(missing)} in TOPIC_PARTITIONS")
    timeout_ms = int(timeout_s * 1000)
    admin = KafkaAdminClient(
        **kafka_options(settings),
        client_id="truyvet-topics",
        request_timeout_ms=timeout_ms,
        bootstrap_timeout_ms=timeout_ms,
    )
    try:
        existing = set(admin.list_topics())
        wanted = {
            settings.topic(name): {
                "num_partitions": partitions_of(name, settings),
                "replication_factor": replication_of(settings.kafka_brokers)[0],
                "configs": topic_configs(name, settings),
            }
            for name in TOPIC_NAMES
            if settings.topic(name) not in existing
        }
        if not wanted:
            return []
        result = admin.create_topics(wanted, timeout_ms=timeout_ms, raise_errors=False)
        created, failures = [], []
        for topic in result["topics"]:
            if topic["error_code"] == 0:
                created.append(topic["name"])
            elif topic["error_code"] != _TOPIC_ALREADY_EXISTS:  # a concurrent creator won the race
                reason = topic.get("error_message") or f"error code {topic['error_code']}"
                failures.append(f"{topic['name']}: {reason}")
        if failures:
            raise StackError("could not create Kafka topics: " + "; ".join(failures))
        admin.wait_for_topics(created, timeout_ms=timeout_ms)
        return sorted(created)
    finally:
        admin.close()
