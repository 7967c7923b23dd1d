"""A consumer stopped while its group rebalances still leaves the group at once.

Faust's rebalance callbacks run on its main loop, which stops before the consumer does; a
worker SIGTERMed during a rebalance waited for a callback that never ran, exited without a
LeaveGroup, and the group waited its whole session timeout (seen when two workers joined
and left together). The listener below hangs the same way, on the real broker.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from cli.stack import Stack
from processors.kafka_driver import stop_or_leave

SESSION_TIMEOUT_MS = 30_000  # far above what the test allows: a missed leave cannot hide


class HangsOnSecondAssignment(ConsumerRebalanceListener):
    """Like Faust's callbacks once its main loop has stopped: the next assignment never returns."""

    def __init__(self) -> None:
        self.assignments = 0
        self.hanging = asyncio.Event()

    async def on_partitions_revoked(self, revoked: object) -> None:
        return None

    async def on_partitions_assigned(self, assigned: object) -> None:
        self.assignments += 1
        if self.assignments >= 2:
            self.hanging.set()
            await asyncio.Event().wait()


async def _until(check: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout_s} s")
        await asyncio.sleep(0.05)


async def _consumer(stack: Stack, topic: str, group: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(bootstrap_servers=stack.bootstrap, group_id=group,
                            session_timeout_ms=SESSION_TIMEOUT_MS, heartbeat_interval_ms=200,
                            enable_auto_commit=False, auto_offset_reset="earliest")


async def _left_at_once(stack: Stack) -> None:
    topic, group = f"leave-{uuid.uuid4().hex[:8]}", f"leave-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    leaving, staying = await _consumer(stack, topic, group), await _consumer(stack, topic, group)
    listener = HangsOnSecondAssignment()
    await leaving.start()
    await staying.start()
    polls: list[asyncio.Task[object]] = []
    try:
        leaving.subscribe([topic], listener=listener)
        polls.append(asyncio.ensure_future(_poll(leaving)))
        await _until(lambda: len(leaving.assignment()) == 2, 30, "the first consumer got both partitions")
        staying.subscribe([topic])
        polls.append(asyncio.ensure_future(_poll(staying)))
        await asyncio.wait_for(listener.hanging.wait(), 30)  # the rebalance's callback hangs
        stopping = asyncio.ensure_future(leaving.stop())
        cut_short = await stop_or_leave(stopping, leaving._coordinator, 0.5)
        assert cut_short, "the stop waited on the hung callback, so it had to be cut short"
        left_at = time.monotonic()
        await _until(lambda: len(staying.assignment()) == 2, 8, "the other consumer took both partitions")
        assert time.monotonic() - left_at < 8 < SESSION_TIMEOUT_MS / 1000
        stopping.cancel()
    finally:
        for task in polls:
            task.cancel()
        await asyncio.gather(*polls, return_exceptions=True)
        await staying.stop()


async def _poll(consumer: AIOKafkaConsumer) -> object:
    while True:
        await consumer.getmany(timeout_ms=100)


def test_a_consumer_stopped_during_a_rebalance_leaves_the_group_at_once(stack: Stack) -> None:
    asyncio.run(_left_at_once(stack))
