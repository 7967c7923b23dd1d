"""Every webhook delivery's latest record, read from the compacted deliveries topic.

Read from the beginning with no consumer group (as JobControl reads the status topic), so
a restarted worker finds the deliveries still pending and resumes them. A delivery lies on
the partition number of its job's status record, so the worker that owns that status
partition owns the delivery's attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition

from core.settings import FOLLOW_FETCH_WAIT_MS
from schemas.webhooks import WebhookDelivery

log = logging.getLogger(__name__)


class DeliveryBook:
    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        self._bootstrap = bootstrap_servers
        self._topic = topic
        self._latest: dict[str, tuple[int, WebhookDelivery]] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._read_to: dict[int, int] = {}
        self._progress = asyncio.Event()
        self._started = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def get(self, delivery_id: str) -> WebhookDelivery | None:
        found = self._latest.get(delivery_id)
        return None if found is None else found[1]

    def put(self, partition: int, delivery: WebhookDelivery) -> None:
        """What this worker just published, known before the topic echoes it. A delivery's
        attempts only grow, so an older echo never replaces a newer record."""
        kept = self._latest.get(delivery.delivery_id)
        if kept is not None and _newer(kept[1], delivery):
            return
        self._latest[delivery.delivery_id] = (partition, delivery)

    def pending(self, partitions: set[int]) -> list[tuple[int, WebhookDelivery]]:
        """(partition, delivery) of each pending delivery on those partitions."""
        return [(p, d) for p, d in self._latest.values() if p in partitions and d.state == "pending"]

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, group_id=None,
                                    enable_auto_commit=False, fetch_max_wait_ms=FOLLOW_FETCH_WAIT_MS)
        await consumer.start()
        self._consumer = consumer
        partitions = consumer.partitions_for_topic(self._topic)
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(self._topic) or set()
        self._partitions = [TopicPartition(self._topic, p) for p in sorted(partitions)]
        consumer.assign(self._partitions)
        await consumer.seek_to_beginning(*self._partitions)
        self._task = asyncio.create_task(self._read(consumer), name="webhook-deliveries")
        self._started.set()

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        async for record in consumer:
            self._read_to[record.partition] = record.offset + 1
            self._progress.set()
            if record.value is None:
                continue
            try:
                delivery = WebhookDelivery.from_json(record.value)
            except ValueError:
                log.warning("unreadable webhook delivery at %d@%d", record.partition, record.offset)
                continue
            self.put(record.partition, delivery)

    async def sync(self, timeout_s: float = 10.0) -> bool:
        """Until every record already on the topic has been read (False after `timeout_s`)."""
        try:
            await asyncio.wait_for(self._read_to_end(), timeout_s)
            return True
        except TimeoutError:
            log.warning("webhook deliveries not read to their end within %.1f s", timeout_s)
        return False

    async def _read_to_end(self) -> None:
        await self._started.wait()  # the stage's agent may run before the worker's services
        consumer = self._consumer
        if consumer is None:
            raise RuntimeError("the delivery book is not started")
        ends = await consumer.end_offsets(self._partitions)
        while True:
            self._progress.clear()
            behind = [tp for tp, end in ends.items()
                      if self._read_to.get(tp.partition, 0) < end and await consumer.position(tp) < end]
            if not behind:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), 0.5)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()


def _newer(kept: WebhookDelivery, incoming: WebhookDelivery) -> bool:
    """Whether the kept record says more than the incoming one (a late echo)."""
    return kept.state != "pending" or len(kept.attempts) > len(incoming.attempts)

