"""Which jobs every stage should stop spending work on: failed or cancelled ones.

Each worker reads the compacted status topic from the beginning, with no consumer
group, so the answer comes from Kafka and survives restarts. Stages skip records
of stopped jobs in `StageContext.records`, and may register a callback to free
per-job state.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.status import JobState, StatusEvent

log = logging.getLogger(__name__)
_STOPPING = (JobState.FAILED, JobState.CANCELLED)


class JobControl:
    def __init__(self, bootstrap_servers: str, status_topic: str, remember: int = 100_000) -> None:
        self._bootstrap = bootstrap_servers
        self._topic = status_topic
        self._remember = remember
        self._stopped: OrderedDict[str, JobState] = OrderedDict()
        self._callbacks: list[Callable[[str], None]] = []
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    def is_stopped(self, job_id: str) -> bool:
        return job_id in self._stopped

    def on_stop(self, callback: Callable[[str], None]) -> None:
        self._callbacks.append(callback)

    def mark(self, job_id: str, state: JobState) -> None:
        """Also called directly when this process fails a job, before the topic echoes it."""
        if state not in _STOPPING or job_id in self._stopped:
            return
        self._stopped[job_id] = state
        while len(self._stopped) > self._remember:
            self._stopped.popitem(last=False)
        for callback in self._callbacks:
            try:
                callback(job_id)
            except Exception:
                log.exception("stop callback failed for job %s", job_id)

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, group_id=None, enable_auto_commit=False)
        await consumer.start()
        self._consumer = consumer
        partitions = consumer.partitions_for_topic(self._topic)
        if not partitions:
            await consumer._client.force_metadata_update()  # the topic may be new to this client
            partitions = consumer.partitions_for_topic(self._topic) or set()
        tps = [TopicPartition(self._topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        self._task = asyncio.create_task(self._read(consumer), name="job-control")

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        async for record in consumer:
            try:
                event = StatusEvent.from_json(record.value or b"")
            except ValueError:
                continue  # not ours to judge; the gateway logs unreadable status records
            self.mark(event.job_id, event.state)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()
