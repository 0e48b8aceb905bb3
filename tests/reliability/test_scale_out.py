"""Scale-out: a second tracer joins the consumer group mid-stream, then the first one leaves.

Each change of membership is a rebalance while scans keep arriving: partitions move between
workers, and a worker that gains one rebuilds its state from the changelog. The second worker
joins once a quarter of the scans are stored; the first is stopped cleanly (SIGTERM, so it leaves
the group at once, no session timeout to wait out) at ~60 %, and its partitions move to the
second, which rebuilds their state from the changelog (the tracer keeps no standby copies). The
venues are named so that all 8 ``scans`` partitions carry scans: every partition changes owner
at least once.

That both changes happen mid-stream is a condition the test makes, not a race it hopes to win:
the stream holds at half and at 85 % of its messages until the join, then the takeover, is
done, so however slow the machine, scans still arrive after each.
"""

from __future__ import annotations

import logging
import signal
import time
from collections import Counter
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from kafka.admin import KafkaAdminClient
from kafka.partitioner.default import murmur2

from services.core.config import Settings
from services.core.kafka_connection import kafka_options
from tests.reference.tracing import reference_contacts, reference_visits
from tests.reliability.city import recent_start, venues
from tests.reliability.groups import both_assigned, group_assignment
from tests.reliability.stores import (
    committed_offsets,
    count_rows,
    duplicated_rows,
    end_offsets,
    folded_contacts,
    stored_event_ids,
)
from tests.reliability.streams import PacedProducer
from tests.reliability.waits import wait_while_running
from tests.support.citygen import messy_day
from tests.support.pipeline import register_venues
from tests.support.processes import ServiceProcess
from tests.support.scan_topic import stored_contacts, stored_visits
from tests.support.stack import isolated_settings

pytestmark = pytest.mark.integration

SCANS_PARTITIONS = Settings().scans_partitions

# "clinic-0" … "clinic-11" hash onto all 8 partitions ("venue-…" leaves two of them empty).
VENUES = venues(12, prefix="clinic")
PER_SECOND = 8  # 285 messages: a ~36 s stream


def partition_of(venue_id: str) -> int:
    """The ``scans`` partition of a venue's messages (the producer's default partitioner)."""
    return (murmur2(venue_id.encode()) & 0x7FFFFFFF) % SCANS_PARTITIONS


def processed_scans(worker_settings: Settings) -> int:
    """What a worker's heartbeat file (written every 5 s) says it has processed."""
    try:
        beat = (worker_settings.state_dir / "run" / "tracer.heartbeat").read_text()
        return int(beat.split()[1])
    except (FileNotFoundError, IndexError, ValueError):
        return 0


def test_a_worker_joining_and_another_leaving_mid_stream_keep_the_reference_without_duplicates(
    stack: Settings, tmp_path: Path, record_property: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # kafka-python cannot parse Faust's subscription metadata (the assignment it can) and warns,
    # with the whole group in the message, on every describe.
    caplog.set_level(logging.ERROR, logger="kafka.admin._groups")
    settings = isolated_settings(stack, tmp_path)
    register_venues(settings, VENUES)
    day = messy_day(5, venues=list(VENUES), people=1200, start=recent_start(48))
    messages = [m for wave in day.waves for m in wave]
    visits = reference_visits(day.scans, VENUES)
    contacts = reference_contacts(day.scans, VENUES)
    expected_ids = {s.event_id: partition_of(s.venue_id) for s in day.scans}
    distinct_scans = len(expected_ids)
    assert distinct_scans > 5000 and len(messages) > 30 * PER_SECOND
    assert set(expected_ids.values()) == set(range(SCANS_PARTITIONS))

    group, topic = f"{settings.topic_prefix}truyvet-tracer", settings.topic("scans")
    worker_settings = [
        settings.model_copy(update={"state_dir": settings.state_dir / f"worker-{n}"})
        for n in (1, 2)
    ]
    workers: list[ServiceProcess] = []

    def start_worker(n: int) -> None:
        workers.append(ServiceProcess("services.tracer", worker_settings[n - 1],
                                      tmp_path / f"tracer-{n}.log"))

    def stored_scans() -> int:
        return count_rows(settings, "SELECT uniqExact(event_id) FROM scans")

    def diagnosis() -> str:
        """Which partitions lost scans, and what each worker logged."""
        try:
            stored = stored_event_ids(settings)
            missing = Counter(p for e, p in expected_ids.items() if e not in stored)
            got_v, got_c = stored_visits(settings), stored_contacts(settings)
            stores = (f"scans missing by partition {dict(sorted(missing.items()))}; "
                      f"visits missing {len(visits - got_v)} extra {len(got_v - visits)}; "
                      f"contacts missing {len(contacts - got_c)} extra {len(got_c - contacts)}")
        except Exception as exc:  # ClickHouse unreachable: the logs still tell
            stores = f"stores unreadable: {exc!r}"
        logs = "".join(f"\n--- tracer-{n} ---\n{w.log_tail(80)}"
                       for n, w in enumerate(workers, start=1))
        return f"figures so far {figures}; {stores}{logs}"

    figures: dict[str, Any] = {"scans": distinct_scans, "messages": len(messages)}
    with closing(KafkaAdminClient(**kafka_options(settings),
                                  request_timeout_ms=10_000)) as admin:
        try:
            start_worker(1)
            holds = (len(messages) // 2, len(messages) * 17 // 20)
            with PacedProducer(settings, messages, per_second=PER_SECOND, holds=holds) as stream:
                wait_while_running(lambda: stored_scans() >= distinct_scans // 4, 120,
                                   "a quarter of the scans stored by the first worker",
                                   workers, every_s=0.2)
                figures["join_at_sent"] = stream.sent
                start_worker(2)
                joining = time.monotonic()
                after_join = wait_while_running(
                    lambda: both_assigned(group_assignment(admin, group, topic)), 90,
                    "both workers in the group with partitions of their own", workers,
                    every_s=0.2)
                figures["join_s"] = round(time.monotonic() - joining, 1)
                figures["joined_at_sent"] = stream.sent
                figures["held_at_join"] = stream.held
                figures["assignment_after_join"] = sorted(sorted(a) for a in after_join or ())
                stream.release()

                wait_while_running(
                    lambda: stored_scans() >= distinct_scans * 3 // 5
                    and processed_scans(worker_settings[1]) > 0, 120,
                    "three fifths of the scans stored, the second worker processing some",
                    workers, every_s=0.2)
                figures["leave_at_sent"] = stream.sent
                figures["leave_at_scans"] = stored_scans()
                leaving = time.monotonic()
                workers[0].stop()  # SIGTERM: leaves the group, its partitions move at once
                assert workers[0].proc.returncode != -signal.SIGKILL, "no clean stop in 20 s"
                figures["first_worker_exit_code"] = workers[0].proc.returncode
                wait_while_running(
                    lambda: group_assignment(admin, group, topic) == [set(range(SCANS_PARTITIONS))],
                    90,
                    "the second worker alone in the group with every partition",
                    workers[1:], every_s=0.2)
                figures["takeover_s"] = round(time.monotonic() - leaving, 1)
                figures["taken_over_at_sent"] = stream.sent
                figures["held_at_takeover"] = stream.held
                stream.release()
            streamed = time.monotonic()

            def settled() -> bool:
                return stored_visits(settings) == visits and stored_contacts(settings) == contacts

            wait_while_running(settled, 180, "visits and contacts equal to the reference",
                               workers[1:], every_s=1.0)
            figures["settled_after_stream_s"] = round(time.monotonic() - streamed, 1)
            ends = end_offsets(settings, topic)
            wait_while_running(lambda: committed_offsets(settings, group, topic) == ends, 30,
                               "every scans message committed", workers[1:])
            assert duplicated_rows(settings) == {}
            assert folded_contacts(settings) == contacts
            figures["second_worker_processed_scans"] = processed_scans(worker_settings[1])
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{diagnosis()}") from None
        finally:
            for worker in workers:
                worker.stop()
    record_property("scale_out", figures)
