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
from aiokafka.errors import (
    InvalidProducerEpoch,
    KafkaError,
    KafkaTimeoutError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    UnknownProducerId,
)

from services.core.config import Settings
from services.core.kafka_connection import kafka_options
from services.core.logs import configure_logging
from services.core.metrics import serve_worker_metrics

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 8 * 1024 * 1024
"""Largest message a worker sends or fetches: contact batches and dead letters (which carry
the refused payload) can be large."""


def acknowledged_producer(settings: Settings) -> AIOKafkaProducer:
    """A producer whose sends are acknowledged by every in-sync replica, without duplicates."""
    return AIOKafkaProducer(
        **kafka_options(settings), acks="all", enable_idempotence=True,
        max_request_size=MAX_MESSAGE_BYTES, linger_ms=5,
    )


def manual_commit_consumer(settings: Settings, group_id: str, **options: Any) -> AIOKafkaConsumer:
    """A group consumer that commits only what it is told, from the earliest offset of a new
    group; ``options`` are further :class:`AIOKafkaConsumer` settings."""
    return AIOKafkaConsumer(
        **kafka_options(settings), group_id=group_id,
        client_id=f"{group_id}-{time.time_ns()}",
        enable_auto_commit=False, auto_offset_reset="earliest",
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES, fetch_max_bytes=4 * MAX_MESSAGE_BYTES,
        **options,
    )


def unassigned_reader(settings: Settings, **options: Any) -> AIOKafkaConsumer:
    """A consumer of no group, for partitions the caller assigns and positions itself."""
    return AIOKafkaConsumer(
        **kafka_options(settings), group_id=None, enable_auto_commit=False,
        auto_offset_reset="latest",
        max_partition_fetch_bytes=MAX_MESSAGE_BYTES, fetch_max_bytes=4 * MAX_MESSAGE_BYTES,
        **options,
    )
class Deliveries:
    """A batch's sends, waited for until the broker has acknowledged every one of them.

    While the broker is unreachable or a leader is moving, a send fails once the producer's own
    retries run out (``LeaderNotAvailableError``, ``KafkaTimeoutError``, ...). The batch is not
    committed then, so nothing is lost, but a worker that gave up would leave its messages
    unsent until something restarted it. So :meth:`acknowledged` sends the whole batch again,
    in order, after a back-off, until it is through: what a worker sends is keyed facts and
    triggers that its readers take again to the same effect, so a second copy changes nothing.

    A broker that restarts may forget the idempotent producer's sequence numbers
    (``OutOfOrderSequenceNumber``, ``UnknownProducerId``): that producer can send nothing more,
    so ``renew`` replaces it with a fresh one before the batch goes again.
    """

    def __init__(self, producer: AIOKafkaProducer, *,
                 renew: Callable[[], Awaitable[AIOKafkaProducer]] | None = None,
                 stopping: asyncio.Event | None = None, retry_cap_s: float = 5.0) -> None:
        self._producer = producer
        self._renew = renew
        self._stopping = stopping
        self._records: list[tuple[str, bytes, bytes | None]] = []
        self._sent: list[asyncio.Future[Any]] = []
        self._retry_cap_s = retry_cap_s

    async def send(self, topic: str, value: bytes, key: bytes | None) -> None:
        self._records.append((topic, value, key))
        self._sent.append(await self._send(topic, value, key))

    async def _send(self, topic: str, value: bytes, key: bytes | None) -> asyncio.Future[Any]:
        try:
            return await self._producer.send(topic, value, key=key)
        except KafkaError as exc:  # no metadata for the topic in time: judged with the rest
            failed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            failed.set_exception(exc)
            return failed

    async def acknowledged(self) -> None:
        """Return once every record sent so far is acknowledged; then start afresh."""
        delay = 0.2
        while True:
            outcomes = await asyncio.gather(*self._sent, return_exceptions=True)
            failed = [o for o in outcomes if isinstance(o, BaseException)]
            if not failed:
                break
            error = failed[0]
            renew = self._renew is not None and any(
                isinstance(e, _PRODUCER_STATE_ERRORS) for e in failed)
            if (not (renew or _retriable(error))
                    or (self._stopping is not None and self._stopping.is_set())):
                raise error  # uncommitted: the partitions' next owner sends it all again
            log.warning("%d of %d sends failed (%r); sending the batch again in %.1fs%s",
                        len(failed), len(outcomes), error, delay,
                        " with a new producer" if renew else "")
            await asyncio.sleep(delay)
            if renew and self._renew is not None:
                self._producer = await self._renew()
            delay = min(self._retry_cap_s, delay * 2)
            self._sent = [await self._send(*record) for record in self._records]
        self._records, self._sent = [], []


_PRODUCER_STATE_ERRORS = (OutOfOrderSequenceNumber, UnknownProducerId, InvalidProducerEpoch,
                          ProducerFenced)


def _retriable(error: BaseException) -> bool:
    return isinstance(error, KafkaTimeoutError) or (
        isinstance(error, KafkaError) and bool(error.retriable))


class RebalancingWorker(Protocol):
    async def partitions_revoked(self, revoked: list[TopicPartition]) -> None: ...

    async def partitions_assigned(self, assigned: list[TopicPartition]) -> None: ...


async def fresh_producer(settings: Settings, old: AIOKafkaProducer | None,
                         stopping: asyncio.Event) -> AIOKafkaProducer:
    """A started producer in place of ``old`` (stopped), one the broker no longer knows: tried
    again with a back-off while the broker is not back (see :class:`Deliveries`)."""
    if old is not None:
        try:
            await old.stop()
        except KafkaError as exc:  # it is being dropped for failing anyway
            log.warning("stopping the old producer failed: %r", exc)
    delay = 0.5
    while True:
        producer = acknowledged_producer(settings)
        try:
            await producer.start()
        except KafkaError as exc:
            await producer.stop()
            if stopping.is_set():
                raise
            log.warning("a new producer could not start (%r); again in %.1fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(5.0, delay * 2)
            continue
        return producer


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


async def restarting(name: str, job: Callable[[], Awaitable[Any]], *,
                     retry_s: float = 1.0) -> None:
    """Run ``job`` until cancelled, starting it again after ``retry_s`` whenever it fails (a
    copy loop that resumes from what it committed or stored)."""
    while True:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed; starting over in %.0fs", name, retry_s)
            await asyncio.sleep(retry_s)


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


def configure_process(settings: Settings, loglevel: str, service: str, metrics_port: int) -> None:
    """Logging, the metrics endpoint and the state directory of a worker process."""
    configure_logging(service, settings.log_format, loglevel)
    serve_worker_metrics(settings.metrics_host, metrics_port)
    Path(settings.state_dir).mkdir(parents=True, exist_ok=True)
