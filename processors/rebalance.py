"""Watchdogs for the two places where Faust can stop feeding a stage after a rebalance.

Both seek a partition again when it should be moving and is not; a record read twice is a
repeat the stages drop (or, for a changelog, a change applied twice to the same value).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import faust
from aiokafka import TopicPartition

log = logging.getLogger(__name__)


class RecoveryWatchdog:
    """Seeks a table changelog partition again when Faust's recovery stops getting records
    for it.

    Recovery reads each changelog partition up to its highwater before the worker serves
    anything. A fetch that is cut short by a generation change drops the records it
    carried, and nothing fetches them again: recovery then waits forever ("No event
    received for active tp ..."), seen after a worker left a group of two mid-job. A
    partition whose remaining count has not moved for `stuck_s` is sought back to the
    offset recovery reads from (re-reading a change is harmless: it sets the same value).
    """

    def __init__(self, app: faust.App, stuck_s: float = 3.0) -> None:
        self.app = app
        self.stuck_s = stuck_s
        self._since: dict[tuple[TopicPartition, int], float] = {}

    async def check(self) -> list[TopicPartition]:
        """The partitions sought again this time."""
        recovery = self.app.tables.recovery
        if not recovery.in_recovery:
            self._since.clear()
            return []
        now = asyncio.get_running_loop().time()
        assigned = set(self.app.consumer.assignment())
        stuck: dict[TopicPartition, int] = {}
        for tp, left in recovery.active_remaining().items():
            if left <= 0 or tp not in assigned:
                continue
            offset = int(recovery.active_offsets[tp])
            since = self._since.setdefault((tp, offset), now)
            if now - since >= self.stuck_s:
                stuck[tp] = max(offset, 0)
                self._since[(tp, offset)] = now
        if stuck:
            log.warning("table recovery got nothing for %s in %.0f s; seeking them again",
                        ", ".join(f"{tp.topic}[{tp.partition}]@{o}" for tp, o in stuck.items()),
                        self.stuck_s)
            await self.app.consumer.seek_wait(stuck)
        return list(stuck)


@dataclass
class DeliveryLedger:
    """Per stream partition, the next offset its stage should get, and what went missing."""

    next: dict[TopicPartition, int] = field(default_factory=dict)
    at: dict[TopicPartition, float] = field(default_factory=dict)  # the last delivery (monotonic)
    lost: dict[TopicPartition, int] = field(default_factory=dict)  # first offset that was skipped
    sought: dict[TopicPartition, int] = field(default_factory=dict)  # a seek's offset, until it comes

    def delivered(self, tp: TopicPartition, offset: int, start: int | None, now: float) -> bool:
        """`start`: where the rebalance's seek put the partition (None: not known yet).
        True when this delivery shows records lost that were not known to be."""
        self.at[tp] = now
        if tp in self.sought:
            if offset != self.sought[tp]:
                return False  # the rest of a batch that was on its way before the seek
            del self.sought[tp]
        expected = self.next.get(tp, start)
        if expected is not None and offset > expected:
            known = tp in self.lost
            self.lost.setdefault(tp, expected)
            return not known
        if expected is None or offset == expected:
            self.next[tp] = offset + 1
        return False

    def sought_back(self, tp: TopicPartition, offset: int, now: float) -> None:
        self.lost.pop(tp, None)
        self.next[tp] = self.sought[tp] = offset
        self.at[tp] = now

    def clear(self) -> None:
        self.next.clear()
        self.at.clear()
        self.lost.clear()
        self.sought.clear()


class DeliveryWatchdog(faust.Sensor):
    """Seeks a stream partition back when records stop reaching its stage, or skip ahead.

    Faust can lose fetched records on their way to a stream: a fetch cut short by a
    generation change, a batch that arrives while the flow is suspended, an offset below a
    stale read position. Nothing fetches them again. Seen: after a worker of two was killed
    mid-job, 42 frame chunks waiting and the survivor idle; after a worker joined, the
    encoder got chunk 71 of a job but never 54-70, so the job waited for segments that no
    one would make and the partition's commit stayed at 54 for good.

    As a sensor this follows, per partition, the next offset its stage should get: from
    where the rebalance's seek put it (`kafka_driver.Consumer.start_offsets`), one by one.
    A record past that offset means the ones between were lost: the partition is sought
    back to the first of them. A partition with records past that offset and no delivery
    for `stuck_s` is sought there too, but only while `busy()` says no records wait inside
    the worker: a stage that is behind holds up Faust's deliveries of every partition, and
    seeking those back (seen under load: every second) only made the stages do records
    again. After a seek, records until the sought one are the rest of a batch already on
    its way and are not judged. A record delivered twice is a repeat the stages drop.
    """

    def __init__(self, app: faust.App, busy: Callable[[], bool] = lambda: False,
                 stuck_s: float = 1.0, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.app = app
        self.busy = busy
        self.stuck_s = stuck_s
        self.ledger = DeliveryLedger()
        self._reset_at = time.monotonic()
        self._lost = asyncio.Event()  # set when a delivery shows a loss: `watch` acts at once

    def _sought_at(self) -> float:
        return self.app.consumer.sought_at  # processors.kafka_driver's consumer (create_app installs it)

    def on_message_in(self, tp: TopicPartition, offset: int, message: object) -> None:
        start = None
        if self._sought_at() >= self._reset_at:  # else the rebalance's seek is still to come
            start = self.app.consumer.start_offsets.get(tp)
        if self.ledger.delivered(tp, offset, start, time.monotonic()):
            self._lost.set()

    def reset(self) -> None:
        """On every assignment: what was delivered before it says nothing about now."""
        self.ledger.clear()
        self._reset_at = time.monotonic()

    async def watch(self, every_s: float = 0.5) -> None:
        """Checks every `every_s`, and at once when a delivery shows records lost: each
        check later is that much longer a client waits (a loss shows right after most
        rebalances)."""
        while True:
            try:
                await asyncio.wait_for(self._lost.wait(), every_s)
            except TimeoutError:
                pass
            self._lost.clear()
            try:
                await self.check()
            except Exception:  # e.g. the broker away: the next check tries again
                log.warning("delivery check failed", exc_info=True)

    async def check(self) -> dict[TopicPartition, int]:
        """The partitions sought back this time, with the offsets."""
        app, ledger = self.app, self.ledger
        consumer = app.consumer
        epoch = (self._reset_at, self._sought_at())
        if app.rebalancing or app.tables.recovery.in_recovery or epoch[1] < epoch[0]:
            return {}
        seeks = dict(ledger.lost)
        now = time.monotonic()
        starts: dict[TopicPartition, int] = consumer.start_offsets
        quiet = [tp for tp in consumer.assignment()
                 if tp in starts and tp not in seeks and now - ledger.at.get(tp, epoch[1]) >= self.stuck_s]
        if quiet and self.busy():
            quiet = []  # records wait inside this worker: its stages are at work, nothing is lost
        if quiet:
            ends = await consumer.highwaters(*quiet)
            seeks.update({tp: ledger.next.get(tp, starts[tp]) for tp, end in ends.items()
                          if end and end > ledger.next.get(tp, starts[tp])})
        if app.rebalancing or (self._reset_at, self._sought_at()) != epoch or not seeks:
            return {}
        # in the consumer's thread (Faust's `seek` calls aiokafka from this one, which raced
        # with a fetch there: KeyError in aiokafka's fetched_records, and the worker crashed)
        await consumer.seek_wait(seeks)
        for tp, offset in seeks.items():
            ledger.sought_back(tp, offset, now)
        log.warning("records of %s did not reach their stage; sought back there",
                    ", ".join(f"{tp.topic}[{tp.partition}]@{o}" for tp, o in seeks.items()))
        return seeks
