"""What every worker knows of each job from the compacted status topic.

Each worker reads the status topic from the beginning, with no consumer group, so the
answer comes from Kafka and survives restarts. Stages skip records of stopped (failed or
cancelled) jobs in `StageContext.records`, and may register a callback to free per-job
state. The chunker asks for a job's latest event (`latest`, after `sync`) to judge a
request that reuses a job_id, and copies it to note a refusal without changing the job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from core.settings import FOLLOW_FETCH_WAIT_MS
from schemas.status import JobState, StatusEvent

log = logging.getLogger(__name__)
_STOPPING = (JobState.FAILED, JobState.CANCELLED)


@dataclass(frozen=True)
class _Latest:
    state: JobState
    raw: bytes  # the event's JSON as the topic holds it (a parsed event weighs far more)


def keeps(kept: JobState | None, incoming: JobState) -> bool:
    """Whether a job's kept latest event stays in place of an incoming one: a final state is
    never replaced by a non-final one (a late progress report), as the gateway folds them."""
    return kept is not None and kept.final and not incoming.final


class JobControl:
    def __init__(self, bootstrap_servers: str, status_topic: str, remember: int = 100_000) -> None:
        self._bootstrap = bootstrap_servers
        self._topic = status_topic
        self._remember = remember
        self._stopped: OrderedDict[str, JobState] = OrderedDict()
        self._latest: OrderedDict[str, _Latest] = OrderedDict()
        self._callbacks: list[Callable[[str], None]] = []
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._read_to: dict[int, int] = {}  # partition -> offset after the last record read
        self._progress = asyncio.Event()
        self._started = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def is_stopped(self, job_id: str) -> bool:
        return job_id in self._stopped

    def latest(self, job_id: str) -> StatusEvent | None:
        """The job's last event read from the topic, a final one kept over later progress."""
        kept = self._latest.get(job_id)
        return None if kept is None else StatusEvent.from_json(kept.raw)

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

    def _remember_event(self, event: StatusEvent, raw: bytes) -> None:
        kept = self._latest.get(event.job_id)
        if keeps(None if kept is None else kept.state, event.state):
            return
        self._latest[event.job_id] = _Latest(event.state, raw)
        self._latest.move_to_end(event.job_id)
        while len(self._latest) > self._remember:
            self._latest.popitem(last=False)

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
        self._task = asyncio.create_task(self._read(consumer), name="job-control")
        self._started.set()

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        async for record in consumer:
            self._read_to[record.partition] = record.offset + 1
            self._progress.set()
            try:
                event = StatusEvent.from_json(record.value or b"")
            except ValueError:
                continue  # not ours to judge; the gateway logs unreadable status records
            self._remember_event(event, record.value or b"")
            self.mark(event.job_id, event.state)

    async def sync(self, timeout_s: float = 10.0) -> bool:
        """Waits until every event already in the topic has been read, so `latest` answers
        with all of them; False, with a warning, when that takes over `timeout_s`."""
        try:
            await asyncio.wait_for(self._read_to_end(), timeout_s)
            return True
        except TimeoutError:
            log.warning("status topic not read to its end within %.1f s", timeout_s)
        except Exception:  # the broker is away: judge from what was read
            log.exception("could not sync with the status topic")
        return False

    async def _read_to_end(self) -> None:
        await self._started.wait()
        consumer = self._consumer
        if consumer is None:
            raise RuntimeError("job control is stopped")
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
