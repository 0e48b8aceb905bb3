"""What the tracer and the alerts worker share as Kafka workers: their clients, the rebalance
listener that hands changes to the worker, timers, heartbeat files and a clean stop.

Both are batch loops over a plain aiokafka group consumer that commits by hand (the worker
modules say why); only the loop itself differs between them.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition

from services.core.config import Settings

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 8 * 1024 * 1024
"""Largest message a worker sends or fetches: contact batches and dead letters (which carry
the refused payload) can be large."""


def acknowledged_producer(settings: Settings) -> AIOKafkaProducer:
    """A producer whose sends are acknowledged by every in-sync replica, without duplicates."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True,
        max_request_size=MAX_MESSAGE_BYTES, linger_ms=5,
    )


def manual_commit_consumer(settings: Settings, group_id: str, **options: Any) -> AIOKafkaConsumer:
    """A group consumer that commits only what it is told, from the earliest offset of a new
    group; ``options`` are further :class:`AIOKafkaConsumer` settings."""
    return AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=group_id,
        client_id=f"{group_id}-{time.time_ns()}",
        enable_auto_commit=False, auto_offset_reset="earliest",
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES, fetch_max_bytes=4 * MAX_MESSAGE_BYTES,
        **options,
    )


def unassigned_reader(settings: Settings, **options: Any) -> AIOKafkaConsumer:
    """A consumer of no group, for partitions the caller assigns and positions itself."""
    return AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False,
        auto_offset_reset="latest",
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES, fetch_max_bytes=4 * MAX_MESSAGE_BYTES,
        **options,
    )


class RebalancingWorker(Protocol):
    async def partitions_revoked(self, revoked: list[TopicPartition]) -> None: ...

    async def partitions_assigned(self, assigned: list[TopicPartition]) -> None: ...


class Rebalance(ConsumerRebalanceListener):
    """Hands each change of assignment to the worker, which finishes the batch in flight before
    partitions go and reloads its state when they come."""

    def __init__(self, worker: RebalancingWorker) -> None:
        self._worker = worker

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self._worker.partitions_revoked(list(revoked))

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        await self._worker.partitions_assigned(list(assigned))


async def every(interval_s: float, job: Callable[[], Awaitable[Any]]) -> None:
    """Run ``job`` every ``interval_s`` until cancelled; a failure is logged and it goes on."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await job()
        except Exception:
            log.exception("%s failed", getattr(job, "__name__", job))


def write_heartbeat(settings: Settings, name: str, detail: object) -> None:
    """``state_dir/run/NAME.heartbeat``: the time and ``detail``, read by ``truyvet status``."""
    beat = Path(settings.state_dir) / "run" / f"{name}.heartbeat"
    beat.parent.mkdir(parents=True, exist_ok=True)
    beat.write_text(f"{time.time():.0f} {detail}\n")


class StoppableWorker(Protocol):
    def stop(self) -> None: ...

    async def run(self) -> None: ...


async def serve(worker: StoppableWorker) -> None:
    """Run ``worker`` until SIGTERM or SIGINT, then stop it cleanly (it leaves the group)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    await worker.run()


def configure_process(settings: Settings, loglevel: str) -> None:
    """Logging and the state directory of a worker process."""
    logging.basicConfig(level=loglevel.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    Path(settings.state_dir).mkdir(parents=True, exist_ok=True)
