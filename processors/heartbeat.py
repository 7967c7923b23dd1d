"""This worker's heartbeat: who it is, its stages, its partitions, its jobs in hand and its lag.

Published every `heartbeat_s` to the compacted workers topic (key: worker_id) by clients
of its own (a producer; an admin client and a group-less consumer that only read offsets),
so the last record still goes out while Faust's clients stop and no beat waits on Faust's
consumer thread. The gateway reads them to tell live workers per stage (/health) and why a
job is stuck.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from core.kafka_admin import ensure_topics
from processors.in_hand import JobsInHand
from processors.settings import WorkerSettings
from schemas.workers import WorkerHeartbeat

log = logging.getLogger(__name__)
STOP_TIMEOUT_S = 5.0


def new_worker_id() -> str:
    """Unique per process, readable in logs: host:pid:random."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def partitions_by_topic(assigned: Iterable[TopicPartition]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for tp in assigned:
        out.setdefault(tp.topic, []).append(tp.partition)
    return {topic: sorted(parts) for topic, parts in sorted(out.items())}


def assignment_of(app: faust.App) -> set[TopicPartition]:
    """The consumer's partitions now; empty before it has started or while it stops."""
    try:
        return {TopicPartition(tp.topic, tp.partition) for tp in app.consumer.assignment()}
    except Exception:  # noqa: BLE001 - not started yet, or stopping: nothing is assigned
        return set()


def lag_by_partition(stage_of_topic: Mapping[str, str], ends: Mapping[TopicPartition, int],
                     committed: Mapping[TopicPartition, int]) -> dict[tuple[str, str, int], int]:
    """Records between each assigned input partition's committed offset and its end, keyed
    (stage, topic, partition)."""
    return {(stage_of_topic[tp.topic], tp.topic, tp.partition): max(0, end - committed.get(tp, end))
            for tp, end in ends.items() if tp.topic in stage_of_topic}


def summed_by_stage(stage_of_topic: Mapping[str, str],
                    by_partition: Mapping[tuple[str, str, int], int]) -> dict[str, int]:
    """Per-partition lag summed per stage (every stage, 0 when it has nothing behind)."""
    lag = {stage: 0 for stage in stage_of_topic.values()}
    for (stage, _topic, _partition), behind in by_partition.items():
        lag[stage] += behind
    return lag


def lag_by_stage(stage_of_topic: Mapping[str, str], ends: Mapping[TopicPartition, int],
                 committed: Mapping[TopicPartition, int]) -> dict[str, int]:
    """Records between each assigned input partition's committed offset and its end, per stage."""
    return summed_by_stage(stage_of_topic, lag_by_partition(stage_of_topic, ends, committed))


def write_ready_file(path: Path, worker_id: str, partitions: dict[str, list[int]],
                     metrics_port: int | None = None) -> None:
    """Atomic, so a reader sees the whole assignment or the previous one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    ready = {"pid": os.getpid(), "worker_id": worker_id, "partitions": partitions,
             "metrics_port": metrics_port}
    tmp.write_text(json.dumps(ready))
    tmp.replace(path)


class Heartbeat:
    def __init__(self, app: faust.App, settings: WorkerSettings, stage_of_topic: Mapping[str, str],
                 jobs: JobsInHand) -> None:
        self.worker_id = new_worker_id()
        self._app = app
        self._settings = settings
        self._stage_of_topic = dict(stage_of_topic)
        self._jobs = jobs
        self._started_at = time.time()
        self._producer: AIOKafkaProducer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._offsets: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        #: records behind per (stage, topic, partition) held, as the latest beat measured them
        self.partition_lag: dict[tuple[str, str, int], int] = {}

    def beat_soon(self) -> None:
        """After a rebalance: publish the new assignment now rather than at the next tick."""
        self._wake.set()

    async def start(self) -> None:
        kafka = self._settings.kafka
        topic = kafka.topics.workers
        await ensure_topics(kafka.bootstrap_servers,
                            [s for s in kafka.topics.specs(kafka.partitions) if s.name == topic])
        self._producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, linger_ms=0)
        await self._producer.start()
        self._admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
        await self._admin.start()
        self._offsets = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=None,
                                         enable_auto_commit=False)
        await self._offsets.start()
        self._task = asyncio.create_task(self._beat(), name="heartbeat")
        log.info("worker %s publishes heartbeats every %.1fs", self.worker_id,
                 self._settings.heartbeat_s)

    async def _beat(self) -> None:
        """One beat every interval, on a fixed schedule however long a beat takes."""
        loop = asyncio.get_running_loop()
        interval_s = self._settings.heartbeat_s
        while True:
            started = loop.time()
            try:
                await self._publish(await self.record())
            except Exception:  # a missed beat is a late one; the next tick tries again
                log.warning("heartbeat not published", exc_info=True)
            left_s = max(0.0, interval_s - (loop.time() - started))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), left_s)
            self._wake.clear()

    async def record(self, gone: bool = False) -> WorkerHeartbeat:
        assigned = assignment_of(self._app)
        lag: dict[str, int] = {}
        if not gone:
            try:  # bounded: a rebalance may hold the consumer, and the beat must go out on time
                lag = await asyncio.wait_for(self._lag(assigned), self._settings.heartbeat_s / 2)
            except Exception:  # this beat goes out without lag
                log.debug("consumer lag unknown for this heartbeat", exc_info=True)
        return WorkerHeartbeat(worker_id=self.worker_id, host=socket.gethostname(), pid=os.getpid(),
                               stages=list(self._settings.stages),
                               partitions=partitions_by_topic(assigned),
                               jobs={} if gone else self._jobs.recent(), lag=lag,
                               interval_s=self._settings.heartbeat_s, at=time.time(),
                               started_at=self._started_at, gone=gone)

    async def _lag(self, assigned: set[TopicPartition]) -> dict[str, int]:
        inputs = sorted(tp for tp in assigned if tp.topic in self._stage_of_topic)
        if not inputs or self._admin is None or self._offsets is None:
            self.partition_lag = {}
            return summed_by_stage(self._stage_of_topic, {})
        ends = await self._offsets.end_offsets(inputs)
        group = self._settings.app_id  # Faust's consumer group is the app id
        offsets = await self._admin.list_consumer_group_offsets(group, partitions=inputs)
        committed = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
        if missing := [tp for tp in inputs if tp not in committed]:
            # nothing committed yet: the group reads these from the start
            committed.update(await self._offsets.beginning_offsets(missing))
        self.partition_lag = lag_by_partition(self._stage_of_topic, ends, committed)
        return summed_by_stage(self._stage_of_topic, self.partition_lag)

    async def _publish(self, beat: WorkerHeartbeat) -> None:
        if self._producer is not None:
            await self._producer.send_and_wait(self._settings.kafka.topics.workers, beat.to_json(),
                                               key=self.worker_id.encode())

    async def stop(self) -> None:
        """Idempotent; the last record says this worker is gone, so no one waits for it."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            try:
                await asyncio.wait_for(self._publish(await self.record(gone=True)), STOP_TIMEOUT_S)
            except Exception:  # the heartbeat then simply ages out
                log.warning("last heartbeat not published", exc_info=True)
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()
        admin, self._admin = self._admin, None
        if admin is not None:
            await admin.close()
        offsets, self._offsets = self._offsets, None
        if offsets is not None:
            await offsets.stop()
