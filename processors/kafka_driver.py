"""faust-streaming's Kafka consumer, with four faults fixed.

Where a partition starts after a rebalance. Faust (through aiokafka) seeks a newly
assigned partition to its committed offset only when that offset is above 0. Records it
fetched from a partition without one during recovery, while it paused and resumed
partitions, can be dropped before they reach an agent, and with no seek they are never
fetched again: the job on that partition stalled on the new owner (seen after a worker
was killed before its first commit). Here the seek after every rebalance also puts such
partitions at their first record, before the streams resume, and the consumer keeps
where each partition started (`start_offsets`) for the delivery watchdog. It asks the
group coordinator for all committed offsets at once, not once per partition in turn.

Fetches that wait 200 ms, not 1.5 s, for data (see `_create_worker_consumer`).

A commit only up to the first record not yet done. Faust commits the first run of
consecutive acked offsets, but checks that the run starts where the partition's commit
is only loosely (it lets the run begin one past the commit, and checks nothing while a
partition has no commit yet). Stages that finish records out of order (deadline
scheduling, processors/schedule.py) would then commit past a record still waiting, and a
crash would lose it. Here a run must begin at the committed offset, or where the
rebalance's seek put a partition without one.

A commit that finds nothing assigned. Faust filters the offsets it commits by the current
assignment twice: once in the app's consumer, again in its consumer thread. A rebalance
that lands between the two leaves the thread nothing to commit, and it hands aiokafka an
empty mapping, which raises ValueError({}); Faust treats that as a crash and the worker
stops (seen when two workers joined and left within a second). Here the thread commits
nothing and says so instead, as it already does for a commit refused because the group
rebalanced; the offsets are committed by the next commit after the rebalance.

A stop that always leaves the group. aiokafka leaves the group only once its coordinator
has finished the rebalance in progress, and a rebalance's callbacks run on Faust's main
loop, which stops first: a worker signalled while the group rebalanced (two workers
SIGTERMed at once, the second caught in the rebalance the first one's leave started)
waited forever for a callback that never ran and exited without leaving, and the group
waited the whole session timeout for it. Here the consumer leaves as soon as its final
commit is done, from the main loop, before its thread stops (`Consumer.on_stop`); and a
thread's stop that is not done within LEAVE_WAIT_S sends the LeaveGroup itself.

A revoked partition's work that goes on. Faust does not stop an agent when its
partitions are revoked; the consumer notes when each one was (`revoked_at`), so that such
work writes no table and is not committed (processors/fence.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from aiokafka.client import ConnectionGroup, CoordinationType
from aiokafka.errors import KafkaError
from aiokafka.protocol.group import LeaveGroupRequest
from faust.transport.consumer import ensure_TP
from faust.transport.drivers import aiokafka as driver
from faust.types import TP

log = logging.getLogger(__name__)


def unstarted(committed: Mapping[TP, int | None]) -> list[TP]:
    """Stream partitions (not table changelogs) whose committed offset does not place them:
    none at all, or 0, which aiokafka does not seek to either."""
    return sorted((tp for tp, o in committed.items()
                   if not tp.topic.endswith("-changelog") and (o is None or o <= 0)),
                  key=lambda tp: (tp.topic, tp.partition))


def done_from(head: int, acked: list[int], gaps: Any) -> bool:
    """Whether the record at `head` (the next to commit) is done: acked, or an offset the
    partition does not have (Faust's gaps: an IntervalTree of offsets never delivered)."""
    return head in acked or bool(gaps and gaps.overlaps_point(head))


FETCH_MAX_WAIT_MS = 200
LEAVE_WAIT_S = 0.5  # a stop takes some 50 ms when no rebalance holds it up


async def leave_group(coordinator: Any, tries: int = 4) -> bool:
    """Sends the member's LeaveGroup, finding the coordinator again when the connection to it
    has just dropped (seen: a request cut short by the stop took the connection down, and
    aiokafka's one attempt failed with GroupCoordinatorNotAvailable). True once it is sent."""
    member_id, generation = coordinator.member_id, coordinator.generation
    if generation <= 0 or not member_id or coordinator._group_instance_id is not None:
        return False  # not a member (or a static one, which does not leave)
    client, group_id = coordinator._client, coordinator.group_id
    for attempt in range(tries):
        try:
            node_id = coordinator.coordinator_id
            if node_id is None:
                node_id = await client.coordinator_lookup(CoordinationType.GROUP, group_id)
            await client.send(node_id, LeaveGroupRequest(group_id, member_id),
                              group=ConnectionGroup.COORDINATION)
        except KafkaError as exc:
            log.warning("LeaveGroup attempt %d failed: %s", attempt + 1, exc)
            coordinator.coordinator_dead()  # look it up again
            await asyncio.sleep(0.1)
            continue
        log.info("left the group %s (member %s)", group_id, member_id)
        coordinator.reset_generation()  # aiokafka's own leave on close is then not sent again
        return True
    return False


async def leave_for_good(coordinator: Any) -> bool:
    """Tells the coordinator to join no more (this member is on its way out), then leaves."""
    if not coordinator._closing.done():
        coordinator._closing.set_result(None)
    return await leave_group(coordinator)


async def stop_or_leave(stopping: asyncio.Future[None], coordinator: Any, wait_s: float) -> bool:
    """Waits `wait_s` for the consumer's own stop; past that, tells the coordinator to stop
    rejoining and sends the LeaveGroup now. True when the stop had to be cut short."""
    done, _ = await asyncio.wait({stopping}, timeout=wait_s)
    if stopping in done:
        stopping.result()
        return False
    if coordinator is None:
        return True
    log.warning("the consumer's stop waits on a rebalance; leaving the group without it")
    await leave_for_good(coordinator)
    return True


class _ConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: driver.Transport) -> Any:
        """Faust's consumer, with fetches that wait at most FETCH_MAX_WAIT_MS for data.
        Faust fixes 1500 ms, and the broker answers one request per connection at a time,
        so every offset lookup on the fetch connection (the end offsets that table recovery
        starts with, the first offsets after a rebalance) waited up to 1.5 s behind an idle
        fetch: most of the time between an assignment and the first record served."""
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read when the consumer starts
        return consumer

    async def seek_to_committed(self) -> Mapping[TP, int]:
        return await self.call_thread(self._seek_to_committed)

    async def _seek_to_committed(self) -> dict[TP, int | None]:
        """aiokafka's seek_to_committed asks the coordinator once per partition, in turn
        (1.5 s for some 30 partitions on a busy machine, all of it between a rebalance and
        the first record served); this asks once for all of them and seeks the same way."""
        consumer = self._ensure_consumer()
        partitions = consumer.assignment()
        known = await consumer._coordinator.fetch_committed_offsets(partitions)
        committed: dict[TP, int | None] = {}
        for tp in partitions:
            offset = known[tp].offset if tp in known else -1
            committed[tp] = None if offset == -1 else offset
            if offset > 0:
                consumer.seek(tp, offset)
        return committed

    async def on_thread_stop(self) -> None:
        consumer = self._consumer
        coordinator = None if consumer is None else consumer._coordinator
        stopping = asyncio.ensure_future(super().on_thread_stop())
        if await stop_or_leave(stopping, coordinator, LEAVE_WAIT_S):
            # what is left of the stop waits on the main loop's callbacks: give it a moment,
            # then let the thread's sweep cancel it (the process is on its way out)
            await asyncio.wait({stopping}, timeout=LEAVE_WAIT_S)

    async def _commit(self, offsets: Mapping[TP, int]) -> bool:
        if not any(tp in self.assignment() for tp in offsets):  # no await before super's filter
            return False
        return await super()._commit(offsets)


class Consumer(driver.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.start_offsets: dict[TP, int] = {}  # stream partition -> where it was sought to
        self.sought_at = 0.0  # monotonic time of the last seek after a rebalance, once done
        self.seeking_from = 0.0  # ...and when it began: records read before are of the old position
        self.revoked_at: dict[TP, float] = {}  # when each partition was last revoked (processors/fence.py)

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        now = time.monotonic()  # before any await: no stale write gets in between
        self.revoked_at.update({tp: now for tp in revoked})
        await super().on_partitions_revoked(revoked)

    async def perform_seek(self) -> None:
        """Faust's seek to the committed offsets, and to the first record where none is."""
        self.seeking_from = time.monotonic()
        committed = await self.seek_to_committed()
        self._read_offset.update({tp: o if o is not None and o >= 0 else None for tp, o in committed.items()})
        self._committed_offset.update({ensure_TP(tp): o or None for tp, o in committed.items() if o is not None})
        fresh = unstarted(committed)
        starts = {ensure_TP(tp): o for tp, o in committed.items()
                  if not tp.topic.endswith("-changelog") and o is not None and o > 0}
        if fresh:
            earliest = await self.earliest_offsets(*fresh)
            firsts = {tp: earliest.get(tp) or 0 for tp in fresh}
            await self.seek_wait(firsts)  # in the consumer's thread: aiokafka is not safe from this one
            starts.update({ensure_TP(tp): o for tp, o in firsts.items()})
            log.info("%d partitions without a committed offset start at their first record", len(fresh))
        self.start_offsets = starts
        self.sought_at = time.monotonic()

    def _new_offset(self, tp: TP) -> int | None:
        acked = self._acked[tp]
        head = self._committed_offset.get(tp)
        if head is None:
            head = self.start_offsets.get(tp)
        if acked and head is not None and not done_from(head, acked, self._gap[tp]):
            return None
        return super()._new_offset(tp)

    async def on_stop(self) -> None:
        await super().on_stop()  # Faust's last commit
        await self.leave_group()

    async def leave_group(self) -> None:
        """Leaves the group now, in the consumer's thread, and joins it no more: whatever
        rebalance the coordinator is in the middle of, the others take over at once."""
        thread = self._thread
        consumer = getattr(thread, "_consumer", None)
        if consumer is None or consumer._coordinator is None:
            return
        done = asyncio.run_coroutine_threadsafe(leave_for_good(consumer._coordinator), thread.thread_loop)
        try:
            await asyncio.wait_for(asyncio.wrap_future(done), LEAVE_WAIT_S * 2)
        except Exception:  # stopping anyway; the thread's own stop tries again
            log.warning("could not leave the group before stopping", exc_info=True)

    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


def install() -> None:
    """Every app in this process gets this consumer (the transport picks it by class)."""
    driver.Transport.Consumer = Consumer
