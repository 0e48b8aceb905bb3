"""A Faust app whose consumer neither skips nor forgets a partition it was given.

Faust's consumer keeps two pieces of bookkeeping that can silently lose work:

- the highest offset it has read, per partition: it drops any fetched message at or below it as
  "already seen", and it takes a jump past it for a hole in the log, counting the missing offsets
  as processed so that a commit may pass them. After a rebalance, messages fetched before it move
  that offset ahead, the re-fetch from the committed offset is dropped, and the group commits past
  messages nobody processed (faust-streaming issues #115, #216, #221). Here a second tracer
  joining mid-stream lost hundreds of ``scans`` messages that way;
- a set of "active" partitions it fetches from, maintained by hand as partitions are assigned,
  revoked, paused for recovery and paused while a stream's buffer is under pressure. A partition
  can fall out of it for good: the tracer benchmark saw a worker that owned eight partitions
  fetch from seven, for as long as it ran.

So both workers' consumer fetches from every assigned partition that recovery has not paused,
computed afresh on each fetch; a full stream buffer then holds the fetch loop back (the queue is
bounded) instead of parking the partition. The tracer's consumer also remembers no read offsets:
every fetched message is delivered, re-fetches included, and Faust commits only offsets whose
messages were all acknowledged (messages fetched for an earlier generation of the group are still
left out, unacknowledged). The tracer then keeps each partition in offset order itself, passing
over re-deliveries and seeking back over gaps (``services/tracer/offsets.py``). The alerts worker
keeps Faust's read offsets: a re-delivered case report must not undo a later withdrawal, and it
runs as a single instance.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from faust.transport.drivers.aiokafka import Transport as AIOKafkaTransport
from faust.types import TP, TransportT


class _NothingRead(dict[TP, int | None]):
    """A read-offset map that stays empty: every partition reads as "nothing read yet"."""

    def __getitem__(self, tp: TP) -> None:
        return None

    def __setitem__(self, tp: TP, offset: int | None) -> None:
        pass

    def update(self, *_: Any, **__: Any) -> None:
        pass


class Consumer(AIOKafkaConsumer):
    """Faust's aiokafka consumer fetching every assigned partition recovery has not paused."""

    def _get_active_partitions(self) -> set[TP]:
        """Every assigned partition but those paused (recovery pauses and resumes them)."""
        return self._set_active_tps(self.assignment())

    def on_buffer_full(self, tp: TP) -> None:
        """Keep fetching ``tp``: the bounded stream queue holds the fetch loop back instead."""


class RedeliveringConsumer(Consumer):
    """:class:`Consumer` that also delivers every message it fetches, re-fetches included."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_offset = _NothingRead()


class Transport(AIOKafkaTransport):
    Consumer = Consumer


class RedeliveringTransport(AIOKafkaTransport):
    Consumer = RedeliveringConsumer


class App(faust.App):
    """``faust.App`` whose consumer is :class:`Consumer`, or :class:`RedeliveringConsumer` with
    ``redeliver=True`` for a worker that keeps each partition's order itself."""

    def __init__(self, *args: Any, redeliver: bool = False, **kwargs: Any) -> None:
        self._transport_type = RedeliveringTransport if redeliver else Transport
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> TransportT:
        return self._transport_type(self.conf.broker_consumer, self)
