"""The workers' Faust consumer neither skips nor forgets a partition (see core/faust_app.py)."""

from __future__ import annotations

from faust.types import TP

from services.core.faust_app import App, Consumer


def _consumer() -> Consumer:
    app = App("truyvet-unit-faust-app", broker="kafka://127.0.0.1:1", web_enabled=False)
    consumer = app.consumer
    assert isinstance(consumer, Consumer)
    return consumer


def test_the_plain_consumer_keeps_fausts_read_offsets() -> None:
    consumer = _consumer()
    consumer._read_offset[TP("cases", 0)] = 41
    assert consumer._read_offset[TP("cases", 0)] == 41


def test_every_assigned_partition_is_fetched_unless_paused(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    consumer = _consumer()
    assigned = {TP("scans", p) for p in range(4)}
    monkeypatch.setattr(consumer, "assignment", lambda: set(assigned))
    consumer._set_active_tps(assigned)
    # A full stream buffer no longer parks a partition; a partition lost from the hand-kept
    # set (as the benchmark saw) is fetched again on the next fetch.
    consumer.on_buffer_full(TP("scans", 1))
    consumer._active_partitions.discard(TP("scans", 3))
    assert consumer._get_active_partitions() == assigned
    # Recovery's pauses still hold until it resumes the partition.
    consumer.pause_partitions([TP("scans", 2)])
    assert consumer._get_active_partitions() == assigned - {TP("scans", 2)}
    consumer.resume_partitions([TP("scans", 2)])
    assert consumer._get_active_partitions() == assigned
