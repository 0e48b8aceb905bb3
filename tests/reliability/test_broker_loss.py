"""One of three Kafka brokers SIGKILLed while venues push scans over HTTP, then restarted
(``make test-brokers``: a cluster of its own, outside ``make test``).

The topics are replicated three times with ``min.insync.replicas=2`` and ingest's producer waits
for ``acks=all``, so a ``202`` means two brokers hold the scans: losing any one broker loses
nothing that was acknowledged. While leadership moves to the survivors ingest answers ``202``
or ``503`` with ``Retry-After`` (never anything else), the two survivors go on accepting scans,
the restarted broker catches up until every partition has three in-sync replicas again, and
the final stores hold every accepted scan once, with exactly the visits and contacts the
reference derives from them.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from schemas.registry import Role
from services.core.config import TOPIC_NAMES, Settings
from services.core.kafka_connection import kafka_options
from tests.reliability.city import recent_start
from tests.reliability.gates import Gate, GateLog
from tests.reliability.stores import stored_event_ids, wait_for_the_reference_stores
from tests.reliability.test_broker_restart import VENUE_IDS, register, uploads_by_venue
from tests.reliability.waits import wait_while_running
from tests.support.citygen import messy_day
from tests.support.processes import ServiceProcess, running_http_service, wait_for
from tests.support.stack import grant, isolated_settings
from truyvet.stack import kafka
from truyvet.stack.processes import is_alive

pytestmark = [pytest.mark.integration, pytest.mark.brokers]

Partitions = dict[tuple[str, int], dict[str, Any]]


def describe(settings: Settings) -> tuple[Partitions, dict[str, str]]:
    """Every partition of the deployment's topics (leader, replicas, in-sync replicas), and
    each topic's ``min.insync.replicas``; asked of whichever broker answers."""
    admin = KafkaAdminClient(**kafka_options(settings), request_timeout_ms=10_000)
    try:
        names = [settings.topic(name) for name in TOPIC_NAMES]
        partitions = {
            (topic["name"], p["partition_index"]): p
            for topic in admin.describe_topics(names)
            for p in topic["partitions"]
        }
        configs = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name) for name in names])["topic"]
    finally:
        admin.close()
    min_insync = {name: str(configs[name]["min.insync.replicas"]["value"]) for name in names}
    return partitions, min_insync


def fully_replicated(settings: Settings) -> bool:
    partitions, _ = describe(settings)
    return bool(partitions) and all(
        len(p["isr_nodes"]) == 3 and p["leader_id"] >= 0 for p in partitions.values())


def test_losing_one_of_three_brokers_mid_stream_loses_and_doubles_nothing(
    brokers_stack: Settings, tmp_path: Path, record_property: Any
) -> None:
    settings = isolated_settings(brokers_stack, tmp_path)
    assert settings.kafka_brokers == 3 and len(settings.kafka_bootstrap.split(",")) == 3
    partitions, min_insync = describe(settings)
    assert {len(p["replica_nodes"]) for p in partitions.values()} == {3}
    assert set(min_insync.values()) == {"2"}

    admin = grant(settings, Role.ADMIN)
    url = f"http://{settings.ingest_host}:{settings.ingest_port}"
    day = messy_day(11, venues=VENUE_IDS, people=250, start=recent_start(48), hours=24)
    messages = [m for wave in day.waves for m in wave]
    log = GateLog()
    with running_http_service("services.ingest", settings, url, tmp_path / "ingest.log") as ingest:
        tracer = ServiceProcess("services.tracer", settings, tmp_path / "tracer.log")
        try:
            keys = register(url, admin)
            by_venue = uploads_by_venue(messages)
            # Each gate's first upload before the others: the tracer is consuming by the time
            # a broker goes (a worker that cannot reach Kafka while starting exits).
            for venue, uploads in by_venue.items():
                Gate(url, keys[venue], uploads[:1], log).run()
            first = {s.event_id for uploads in by_venue.values() for s in uploads[0]}
            wait_while_running(lambda: stored_event_ids(settings) == first, 90,
                               "the tracer consuming", [tracer])
            gates = [Gate(url, keys[venue], uploads[1:], log, every_s=0.4)
                     for venue, uploads in by_venue.items()]
            for gate in gates:
                gate.start()
            wait_for(lambda: log.count(202) >= len(messages) // 4, 60, "a quarter of the uploads")

            # The broker that leads the most `scans` partitions, killed without a goodbye.
            partitions, _ = describe(settings)
            leaders = Counter(p["leader_id"] for (topic, _), p in partitions.items()
                              if topic == settings.topic("scans"))
            victim = next(b for b in kafka.brokers(brokers_stack)
                          if b.node_id == leaders.most_common(1)[0][0])
            pid = kafka.broker_process(brokers_stack, victim).pid()
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: not is_alive(pid), 10, f"{victim.name} to die")
            killed_at = time.monotonic()
            accepted_at_kill = log.count(202)

            # The two survivors take over: scans go on being accepted, nothing leads on the dead.
            wait_for(lambda: log.count(202) >= accepted_at_kill + 3 * len(gates), 90,
                     "uploads accepted while a broker is down")
            wait_for(lambda: all(p["leader_id"] != victim.node_id
                                 for p in describe(settings)[0].values()), 60,
                     "leadership off the killed broker")
            accepted_while_down = log.count(202) - accepted_at_kill
            kafka.start(brokers_stack)  # starts only the broker that is not running
            down_s = time.monotonic() - killed_at
            wait_for(lambda: fully_replicated(settings), 120,
                     "every partition back to three in-sync replicas", every_s=1.0)

            for gate in gates:
                gate.join(timeout=150)
                assert not gate.is_alive(), (
                    f"gates still retrying after {victim.name} came back: {dict(log.statuses)}"
                    f"\n--- ingest ---\n{ingest.log_tail()}")
                assert gate.error is None, gate.error

            record_property("statuses", dict(log.statuses))
            record_property("broker_down_s", round(down_s, 1))
            record_property("accepted_while_down", accepted_while_down)
            assert log.unexpected == [], "answers other than 202/503"
            assert log.unavailable_without_retry_after == 0
            assert log.gave_up == []
            assert set(log.statuses) <= {202, 503}
            everything = {s.event_id for s in day.scans}
            assert log.accepted_event_ids == everything

            wait_for_the_reference_stores(settings, day.scans, tracer, ingest,
                                          f"{victim.name} was killed")
        finally:
            tracer.stop()
