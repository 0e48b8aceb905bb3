"""The ``alerts`` topic as Server-Sent Events, resumable exactly with ``Last-Event-ID``.

Each client gets a consumer of its own: no consumer group (so no rebalances and no committed
offsets to share), every partition of the topic assigned, ``read_committed`` so an alert of an
aborted worker transaction is never shown. Every event's ``id`` holds the next offset of *every*
partition (``0:12,1:40,2:3,3:7``); a reconnecting client sends it back and each partition is
sought exactly there, so nothing is repeated or skipped whatever the interleaving.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Literal

import anyio
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from schemas.alerts import Alert
from services.core.config import Settings
from services.core.kafka_connection import kafka_options

log = logging.getLogger(__name__)

HEARTBEAT_S = 15.0
"""A comment line this often keeps proxies and load balancers from closing an idle stream."""

RETRY_MS = 3000
"""How long an ``EventSource`` waits before reconnecting."""

MAX_STREAMS = 200
"""Open streams per process; each holds a Kafka connection."""

MAX_STREAMS_PER_TOKEN = 4
"""Open streams one token may hold on one process: a notifier needs one or two (and one more
while it reconnects); a leaked or misused token must not take every slot."""

_MAX_EVENT_ID = 4096
_POSITION = re.compile(r"(?P<partition>[0-9]{1,10}):(?P<offset>[0-9]{1,19})", re.ASCII)
_MAX_PARTITION = 2**31 - 1  # Kafka's partition ids are int32, its offsets int64
_MAX_OFFSET = 2**63 - 1
_POLL_MS = 1000
_MAX_RECORDS = 500

Start = Literal["beginning", "end"] | dict[int, int]
"""Where a stream starts: a topic end, or the next offset of each partition (a resume)."""


class BadEventIdError(ValueError):
    """A ``Last-Event-ID`` this service did not write."""


class TooManyStreamsError(RuntimeError):
    """This process serves :data:`MAX_STREAMS` streams already, or is shutting down."""


class TokenStreamsExhaustedError(RuntimeError):
    """This token holds :data:`MAX_STREAMS_PER_TOKEN` streams on this process already."""


def parse_event_id(text: str) -> dict[int, int]:
    """The partition → next offset map of an event id.

    Example:
        >>> parse_event_id("0:12,1:40,2:3,3:7")
        {0: 12, 1: 40, 2: 3, 3: 7}
        >>> parse_event_id("0:12,0:13")
        Traceback (most recent call last):
        ...
        services.alerts.api.stream.BadEventIdError: Last-Event-ID names partition 0 twice
        >>> parse_event_id("²:1")
        Traceback (most recent call last):
        ...
        services.alerts.api.stream.BadEventIdError: Last-Event-ID must look like '0:12,1:40' \
(partition:next offset); got '²:1'
    """
    if len(text) > _MAX_EVENT_ID:
        raise BadEventIdError("Last-Event-ID is too long")
    positions: dict[int, int] = {}
    for part in text.split(","):
        # ASCII digits only: str.isdigit() also admits "²", which int() refuses.
        found = _POSITION.fullmatch(part.strip())
        if found is None:
            raise BadEventIdError(
                f"Last-Event-ID must look like '0:12,1:40' (partition:next offset); got {part!r}"
            )
        partition, offset = int(found["partition"]), int(found["offset"])
        if partition > _MAX_PARTITION or offset > _MAX_OFFSET:
            raise BadEventIdError(f"Last-Event-ID names a position Kafka cannot have: {part!r}")
        if partition in positions:
            raise BadEventIdError(f"Last-Event-ID names partition {partition} twice")
        positions[partition] = offset
    return positions


def format_event_id(positions: Mapping[int, int]) -> str:
    """The event id of ``positions``, partitions in order.

    Example:
        >>> format_event_id({1: 40, 0: 12})
        '0:12,1:40'
    """
    return ",".join(f"{partition}:{offset}" for partition, offset in sorted(positions.items()))


def sse_event(event: str, data: str, event_id: str | None = None) -> bytes:
    """One SSE event. ``data`` must be one line (compact JSON is).

    Example:
        >>> sse_event("alert", '{"a":1}', "0:1")
        b'event: alert\\nid: 0:1\\ndata: {"a":1}\\n\\n'
    """
    if "\n" in data or "\r" in data:
        raise ValueError("SSE data must be a single line")
    head = f"event: {event}\n" + (f"id: {event_id}\n" if event_id is not None else "")
    return f"{head}data: {data}\n\n".encode()


class AlertFeed:
    """One client's view of the ``alerts`` topic, from a start to wherever the client leaves."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        positions: dict[int, int],
        topic: str,
        on_close: Callable[[AlertFeed], None] | None = None,
    ) -> None:
        self._consumer = consumer
        self._positions = positions
        self._topic = topic
        self._on_close = on_close
        self._closed = False
        # Set (from a signal handler, hence a plain flag) when the server begins to shut down.
        self.ending = False
        # Asked at every poll: a stream of a token revoked or expired meanwhile ends.
        self.allowed: Callable[[], bool] = lambda: True

    @classmethod
    async def open(
        cls,
        settings: Settings,
        partitions: list[int],
        start: Start,
        on_close: Callable[[AlertFeed], None] | None = None,
    ) -> AlertFeed:
        """A started consumer, positioned; raises before any byte of the response is sent."""
        topic = settings.topic("alerts")
        # Checked before the consumer starts: aiokafka's stop() right after start() (no await
        # in between) raises CancelledError from a task that never ran.
        _check_start(partitions, start)
        consumer = AIOKafkaConsumer(
            **kafka_options(settings),
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            # Only if a resume offset is no longer (or not yet) in the log: replaying alerts is
            # harmless (alert ids are stable), skipping them is not.
            auto_offset_reset="earliest",
            client_id="truyvet-alerts-sse",
        )
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in partitions]
            consumer.assign(tps)
            await _seek(consumer, tps, start)
            await _not_before(consumer, tps, int(time.time() - settings.retention_s) * 1000)
            positions = {tp.partition: await consumer.position(tp) for tp in tps}
        except BaseException:
            await _stop(consumer)
            raise
        return cls(consumer, positions, topic, on_close)

    @property
    def event_id(self) -> str:
        return format_event_id(self._positions)

    async def events(self) -> AsyncIterator[bytes]:
        """The stream's bytes: a ``ready`` event with the start position, then one ``alert``
        event per record, and a heartbeat comment whenever nothing else was sent for a while."""
        try:
            # The ready event carries an id too, so a client that saw no alert yet still
            # resumes from where it connected rather than from the end at reconnect time.
            yield f"retry: {RETRY_MS}\n".encode() + sse_event(
                "ready", json.dumps({"positions": self._positions}), self.event_id
            )
            last_sent = time.monotonic()
            while not self.ending and self.allowed():
                batches = await self._consumer.getmany(timeout_ms=_POLL_MS,
                                                       max_records=_MAX_RECORDS)
                chunk = b"".join(
                    self._event(record)
                    for tp in sorted(batches, key=lambda tp: tp.partition)
                    for record in batches[tp]
                )
                if chunk:
                    yield chunk
                    last_sent = time.monotonic()
                elif time.monotonic() - last_sent >= HEARTBEAT_S:
                    yield b": heartbeat\n\n"
                    last_sent = time.monotonic()
        except KafkaError as exc:
            # End the response; the client reconnects with its Last-Event-ID and loses nothing.
            log.warning("alert stream from %s ended by Kafka: %r", self._topic, exc)
        finally:
            await self.close()

    def _event(self, record: ConsumerRecord[bytes, bytes]) -> bytes:
        self._positions[record.partition] = record.offset + 1
        try:
            alert = Alert.model_validate_json(record.value or b"")
        except ValidationError as exc:
            # Shown, not skipped: a dashboard must know an alert it cannot read exists.
            log.error("undecodable alert at %s[%d]@%d", record.topic, record.partition,
                      record.offset)
            reason = {"partition": record.partition, "offset": record.offset,
                      "reason": str(exc.errors(include_url=False, include_input=False))}
            return sse_event("undecodable", json.dumps(reason), self.event_id)
        return sse_event("alert", alert.model_dump_json(), self.event_id)

    async def close(self) -> None:
        """Stop the consumer; safe to call twice and from a cancelled task."""
        if self._closed:
            return
        self._closed = True
        await _stop(self._consumer)
        if self._on_close is not None:
            self._on_close(self)


class AlertStreams:
    """Opens feeds for one process, at most :data:`MAX_STREAMS` at a time; closes all at exit.

    Asks the cluster for the topic's partitions at every open (one small metadata request), so
    partitions added to the topic later are streamed too.
    """

    def __init__(self, settings: Settings, max_streams: int = MAX_STREAMS,
                 per_token: int = MAX_STREAMS_PER_TOKEN) -> None:
        self._settings = settings
        self._max = max_streams
        self._per_token = per_token
        self._open: set[AlertFeed] = set()
        self._opening = 0  # counted too, so concurrent requests cannot overshoot the limit
        self._held: Counter[str] = Counter()  # open and opening streams per token
        self._admin: AIOKafkaAdminClient | None = None
        self._ending = False

    async def start(self) -> None:
        self._admin = AIOKafkaAdminClient(**kafka_options(self._settings),
                                          client_id="truyvet-alerts-api")
        await self._admin.start()

    async def open(self, start: Start, holder: str) -> AlertFeed:
        """A feed for the token ``holder`` (its id), within both limits."""
        if self._ending:
            raise TooManyStreamsError("this server is shutting down")
        if len(self._open) + self._opening >= self._max:
            raise TooManyStreamsError(f"this server already serves {self._max} alert streams")
        if self._held[holder] >= self._per_token:
            raise TokenStreamsExhaustedError(
                f"this token already holds {self._per_token} alert streams here; close one")
        self._opening += 1
        self._held[holder] += 1
        try:
            partitions = await self._partitions()
            feed = await AlertFeed.open(self._settings, partitions, start,
                                        on_close=lambda f: self._closed(f, holder))
        except BaseException:
            self._release(holder)
            raise
        finally:
            self._opening -= 1
        feed.ending = self._ending  # shutdown may have begun while this one was opening
        self._open.add(feed)
        return feed

    def open_count(self) -> int:
        """Streams open now (the ``truyvet_sse_clients`` gauge)."""
        return len(self._open)
    def _closed(self, feed: AlertFeed, holder: str) -> None:
        self._open.discard(feed)
        self._release(holder)

    def _release(self, holder: str) -> None:
        self._held[holder] -= 1
        if self._held[holder] <= 0:
            del self._held[holder]

    def end_all(self) -> None:
        """Make every open stream end within a poll (about a second), and refuse new ones.

        Called when shutdown begins: uvicorn waits for open responses before it stops, and a
        stream never ends by itself. Clients reconnect with their Last-Event-ID.
        """
        self._ending = True
        for feed in list(self._open):
            feed.ending = True

    async def stop(self) -> None:
        for feed in list(self._open):
            await feed.close()
        if self._admin is not None:
            await self._admin.close()

    async def _partitions(self) -> list[int]:
        assert self._admin is not None, "AlertStreams.start() was not awaited"
        topic = self._settings.topic("alerts")
        described = await self._admin.describe_topics([topic])
        if not described or described[0]["error_code"] or not described[0]["partitions"]:
            code = described[0]["error_code"] if described else "no answer"
            raise KafkaError(f"topic {topic!r} is not available (error {code})")
        return sorted(int(p["partition"]) for p in described[0]["partitions"])


async def _stop(consumer: AIOKafkaConsumer) -> None:
    # Shielded: a client disconnect cancels the streaming task, and without the shield the
    # first await here would be cancelled too, leaking the consumer's connections.
    with anyio.CancelScope(shield=True), anyio.move_on_after(10):
        await consumer.stop()


def _check_start(partitions: list[int], start: Start) -> None:
    if isinstance(start, dict):
        unknown = set(start) - set(partitions)
        if unknown:
            raise BadEventIdError(
                f"Last-Event-ID names partitions {sorted(unknown)} the alerts topic does not have"
            )


async def _not_before(consumer: AIOKafkaConsumer, tps: list[TopicPartition],
                      horizon_ms: int) -> None:
    """Move every partition positioned before ``horizon_ms`` (the retention horizon) up to its
    first alert at or after it: a stream never replays what retention has dropped elsewhere,
    whatever it was asked to start from."""
    found = await consumer.offsets_for_times(dict.fromkeys(tps, horizon_ms))
    ends = await consumer.end_offsets(tps)
    for tp in tps:
        hit = found.get(tp)
        floor = hit.offset if hit is not None else ends[tp]
        if await consumer.position(tp) < floor:
            consumer.seek(tp, floor)


async def _seek(consumer: AIOKafkaConsumer, tps: list[TopicPartition], start: Start) -> None:
    if start == "beginning":
        await consumer.seek_to_beginning(*tps)
    elif start == "end":
        await consumer.seek_to_end(*tps)
    else:
        assert isinstance(start, dict)
        for tp in tps:
            if tp.partition in start:
                consumer.seek(tp, start[tp.partition])
            else:
                # A partition added since the id was written: all of it is new to this client.
                await consumer.seek_to_beginning(tp)


__all__ = [
    "HEARTBEAT_S",
    "MAX_STREAMS",
    "MAX_STREAMS_PER_TOKEN",
    "AlertFeed",
    "AlertStreams",
    "BadEventIdError",
    "Start",
    "TokenStreamsExhaustedError",
    "TooManyStreamsError",
    "format_event_id",
    "parse_event_id",
    "sse_event",
]
