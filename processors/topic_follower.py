"""A compacted topic read from its beginning by every worker, with no consumer group, so
what it holds comes from Kafka and survives restarts (job control's status topic, the
webhook deliveries). `sync` waits until everything already on the topic has been read."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from core.settings import FOLLOW_FETCH_WAIT_MS

log = logging.getLogger(__name__)


class TopicFollower:
    """Subclasses fold each record in `on_record` (a tombstone has no value)."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        self._bootstrap = bootstrap_servers
        self._topic = topic
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._read_to: dict[int, int] = {}  # partition -> offset after the last record read
        self._progress = asyncio.Event()
        self._started = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def on_record(self, record: ConsumerRecord) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, group_id=None, enable_auto_commit=False,
                                    fetch_max_wait_ms=FOLLOW_FETCH_WAIT_MS)
        await consumer.start()
        self._consumer = consumer
        partitions = consumer.partitions_for_topic(self._topic)
        if not partitions:
            await consumer._client.force_metadata_update()  # the topic may be new to this client
            partitions = consumer.partitions_for_topic(self._topic) or set()
        self._partitions = [TopicPartition(self._topic, p) for p in sorted(partitions)]
        consumer.assign(self._partitions)
        await consumer.seek_to_beginning(*self._partitions)
        self._task = asyncio.create_task(self._read(consumer), name=f"follow:{self._topic}")
        self._started.set()

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        async for record in consumer:
            self._read_to[record.partition] = record.offset + 1
            self._progress.set()
            self.on_record(record)

    async def sync(self, timeout_s: float = 10.0) -> bool:
        """Waits until every record already on the topic has been read; False, with a
        warning, when that takes over `timeout_s` or the broker is away."""
        try:
            await asyncio.wait_for(self._read_to_end(), timeout_s)
            return True
        except TimeoutError:
            log.warning("%s not read to its end within %.1f s", self._topic, timeout_s)
        except Exception:  # the broker is away: judge from what was read
            log.exception("could not sync with %s", self._topic)
        return False

    async def _read_to_end(self) -> None:
        await self._started.wait()  # a stage's agent may run before the worker's services
        consumer = self._consumer
        if consumer is None:
            raise RuntimeError(f"the follower of {self._topic} is stopped")
        ends = await consumer.end_offsets(self._partitions)
        while True:
            self._progress.clear()
            # the position covers a partition whose last offsets hold no record
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
