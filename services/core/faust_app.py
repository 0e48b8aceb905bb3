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

So the alerts worker's consumer fetches from every assigned partition that recovery has not
paused, computed afresh on each fetch; a full stream buffer then holds the fetch loop back (the
queue is bounded) instead of parking the partition. The tracer no longer runs on Faust: it reads
``scans`` with a plain aiokafka group consumer (``services/tracer/app.py``).
"""

from __future__ import annotations

import faust
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer
from faust.transport.drivers.aiokafka import Transport as AIOKafkaTransport
from faust.types import TP, TransportT


class Consumer(AIOKafkaConsumer):
    """Faust's aiokafka consumer fetching every assigned partition recovery has not paused."""

    def _get_active_partitions(self) -> set[TP]:
        """Every assigned partition but those paused (recovery pauses and resumes them)."""
        return self._set_active_tps(self.assignment())

    def on_buffer_full(self, tp: TP) -> None:
        """Keep fetching ``tp``: the bounded stream queue holds the fetch loop back instead."""


class Transport(AIOKafkaTransport):
    Consumer = Consumer


class App(faust.App):
    """``faust.App`` whose consumer is :class:`Consumer`."""

    def _new_transport(self) -> TransportT:
        return Transport(self.conf.broker_consumer, self)
