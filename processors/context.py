"""What every stage shares: the app, its topics, settings, the avatar cache, a CPU pool and
reporting.

`records()` is the one place a raw Kafka record becomes a schemas object; a record
that cannot be read goes to the dead-letter topic with the reason, and the stage
keeps going.

`scheduled()` is the same with deadline scheduling: records of all jobs read ahead and
served by when their viewers need them (processors/schedule.py).

A record's offset becomes committable only once the stage is done with it. Faust acks
an event in a `finally` when its stream generator is closed, which is what happens to
the record in hand when a stopping worker cancels its agents: committed on the way out,
that record would be lost. So each record is held (one extra reference on its message)
from the moment the stage takes it until the stage asks for the next one; a cancelled
stage never lets go, its offset is not committed, and the next owner of the partition
does the record again (a graceful stop hands it back).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import faust
from faust.types import TP

from core.store import MediaStore
from models.avatars.avatar import Avatar
from processors.avatar_cache import AvatarCache
from processors.cpu_pool import DeadlinePool, current_due
from processors.fence import hand, stale, taken_since
from processors.job_control import JobControl
from processors.metrics import WorkerMetrics
from processors.schedule import DeadlineQueue, ReadAhead
from processors.settings import WorkerSettings
from processors.topics import Topics
from processors.usage import Meter, charge, current_meter, start_meter
from schemas.base import DEFAULT_TENANT, Message
from schemas.pipeline import DeadLetterMeta, JobRef
from schemas.status import JobState, StatusEvent
from schemas.usage import UsageRecord

log = logging.getLogger(__name__)
T = TypeVar("T")
BATCH_DUE_S = 1e6  # how much later than live work the CPU pool takes batch work
M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class HeaderRecord(Generic[M]):
    """A record for a media topic: the meta travels as headers, the payload as the value."""

    meta: M
    value: bytes


def hold(*events: faust.EventT) -> None:
    """One more reference on each event's message: Faust's own ack no longer makes it
    committable, only `release` after it does."""
    for event in events:
        event.message.incref()


async def release(stream: faust.StreamT, *events: faust.EventT) -> None:
    for event in events:
        await stream.ack(event)


def _size(event: faust.EventT) -> int:
    value = event.value
    return len(value) if isinstance(value, bytes | bytearray) else 0


@dataclass
class StageContext:
    app: faust.App
    topics: Topics
    settings: WorkerSettings
    store: MediaStore
    avatars: AvatarCache[Avatar]  # the worker's one cache, shared by the lipsync and encoder stages
    executor: DeadlinePool
    control: JobControl
    metrics: WorkerMetrics = field(default_factory=WorkerMetrics)

    async def run_cpu(self, fn: Callable[..., T], *args: Any) -> T:
        """CPU/GPU work runs in the pool so the event loop keeps serving Kafka; the work
        for the record nearest its viewer's deadline first (processors/cpu_pool.py). Its
        thread's CPU time is charged to the record in hand (processors/usage.py)."""
        def timed() -> tuple[T, float]:
            started = time.thread_time()
            result = fn(*args)
            return result, time.thread_time() - started

        result, cpu_s = await asyncio.wrap_future(self.executor.submit(current_due.get(), timed))
        charge(cpu_s)
        return result

    async def account(self, job_id: str, stage: str, part: int | str, cpu_s: float | None = None,
                      gpu_s: float | None = None, **fields: Any) -> None:
        """One piece of a job's work on the usage topic: its CPU (and GPU) seconds, by
        default the meter's of the record in hand, and any other UsageRecord fields. A
        piece done again replaces its record (the key), so it is counted once."""
        meter = current_meter.get() or Meter()
        record = UsageRecord(job_id=job_id, stage=stage, part=str(part),
                             cpu_s=round(meter.cpu_s if cpu_s is None else cpu_s, 6),
                             gpu_s=round(meter.gpu_s if gpu_s is None else gpu_s, 6), **fields)
        await self.topics.usage.send(key=record.key, value=record.to_json())

    async def _held(self, stream: faust.StreamT, stage: str, parse: Callable[[faust.EventT], T],
                    skip_stopped: bool) -> AsyncIterator[tuple[faust.EventT, T]]:
        """Parsed records, each held; the unreadable and the stopped ones released here."""
        async for event in stream.events():
            hold(event)
            if skip_stopped and self._stopped(event):
                await release(stream, event)
                continue
            try:
                record = parse(event)
            except Exception as exc:  # noqa: BLE001 - unreadable: the record's fault
                await self.dead_letter(event, stage, f"{type(exc).__name__}: {exc}")
                await release(stream, event)
                continue
            yield event, record

    def _stopped(self, event: faust.EventT) -> bool:
        key = event.key
        return isinstance(key, bytes) and self.control.is_stopped(key.decode(errors="replace"))

    async def records(self, stream: faust.StreamT, stage: str, parse: Callable[[faust.EventT], T],
                      skip_stopped: bool = True) -> AsyncIterator[tuple[faust.EventT, T]]:
        """Parsed records of live jobs; every topic is keyed by job_id, so a stopped
        (failed or cancelled) job's records are skipped before any work is spent, unless
        the stage judges them itself (the chunker answers a request for a stopped job).
        Each record is held until the stage asks for the next (see the module's doc)."""
        async for event, record in self._held(stream, stage, parse, skip_stopped):
            hand([(event.message.tp, time.monotonic())])
            started = time.perf_counter()
            start_meter()
            yield event, record
            self._finished(stage, started, 1)
            # reached only when the stage is done with it; a stale record is done again
            # by its partition's owner (processors/fence.py)
            if not self._handed_back(stage):
                await release(stream, event)

    async def scheduled(self, stream: faust.StreamT, stage: str, parse: Callable[[faust.EventT], T],
                        position_s: Callable[[T], float], batch: int = 1,
                        job_of: Callable[[T], JobRef] | None = None,
                        ) -> AsyncIterator[list[tuple[faust.EventT, T]]]:
        """Parsed records of live jobs as `records` gives them, but read ahead (up to
        `settings.read_ahead` records and `read_ahead_mb` MiB) and served earliest deadline
        first, up to `batch` at a time, none more than `settings.lead_s` before it is due
        (processors/schedule.py). Each record is held until the stage asks for the next
        batch. A record read before the latest rebalance's seek began is dropped unserved
        and unreleased: the seek brings it again."""
        def is_batch(entry: tuple[faust.EventT, T, float]) -> bool:
            return job_of is not None and job_of(entry[1]).priority == "batch"
        queue: DeadlineQueue[tuple[faust.EventT, T, float]] = DeadlineQueue(lambda e: position_s(e[1]),
                                                                           is_batch=is_batch)
        lead_s = self.settings.lead_s
        room = ReadAhead(self.settings.read_ahead, self.settings.read_ahead_mb * 2**20)
        arrived = asyncio.Event()

        async def read() -> None:
            async for event, record in self._held(stream, stage, parse, skip_stopped=True):
                await room.acquire(_size(event))
                key = event.key
                job_id = key.decode(errors="replace") if isinstance(key, bytes) else ""
                queue.put(job_id, (event, record, time.monotonic()))
                arrived.set()

        reader = asyncio.ensure_future(read())
        try:
            while True:
                while (first := queue.earliest(lead_s)) is None or first[1] > time.monotonic() + lead_s:
                    arrived.clear()  # nothing, or nothing due within the lead: wait for either
                    waiting = asyncio.ensure_future(arrived.wait())
                    timeout = None if first is None else first[1] - lead_s - time.monotonic()
                    await asyncio.wait({waiting, reader}, timeout=timeout,
                                       return_when=asyncio.FIRST_COMPLETED)
                    waiting.cancel()
                    if reader.done():
                        reader.result()  # its error, if any
                        return
                # the CPU pool serves this work by its due time; batch work after any live work
                due = first[1] + (BATCH_DUE_S if queue.is_batch(first[0]) else 0.0)
                served: list[tuple[faust.EventT, T]] = []
                reads: list[tuple[TP, float]] = []  # each one's partition and when it was read
                while len(served) < batch and (head := queue.take(lead_s)) is not None:
                    event, record, read_at = head[1]
                    await room.release(_size(event))
                    if taken_since(self.app.consumer, event.message.tp, read_at):
                        continue  # comes again from the rebalance's seek, here or elsewhere
                    if self._stopped(event):
                        await release(stream, event)
                        continue
                    served.append((event, record))
                    reads.append((event.message.tp, read_at))
                if served:
                    # a table written while serving it goes to the changelog partition of the
                    # record in hand, which Faust finds from the task's current event
                    stream._set_current_event(served[0][0])
                    hand(reads)
                    current_due.set(due)
                    started = time.perf_counter()
                    start_meter()
                    yield served
                    self._finished(stage, started, len(served))
                    if not self._handed_back(stage):
                        await release(stream, *(event for event, _ in served))
        finally:
            reader.cancel()

    def _finished(self, stage: str, started: float, records: int) -> None:
        self.metrics.stage_seconds.labels(stage).observe(time.perf_counter() - started)
        self.metrics.records.labels(stage).inc(records)

    def _handed_back(self, stage: str) -> bool:
        """Whether the records just served were read before their partition was taken away:
        they are not released, so the partition's owner does them again."""
        if not stale(self.app):
            return False
        log.info("%s: the partition of the records in hand was taken away while they were "
                 "worked on; handed back unreleased", stage)
        return True

    async def dead_letter(self, event: faust.EventT, stage: str, reason: str) -> None:
        msg = event.message
        meta = DeadLetterMeta(source_topic=msg.topic, partition=msg.partition, offset=msg.offset,
                              stage=stage, reason=reason[:2000])
        log.warning("dead letter from %s[%d]@%d in %s: %s", msg.topic, msg.partition, msg.offset,
                    stage, meta.reason)
        self.metrics.dead_letters.labels(stage).inc()
        value = event.value if isinstance(event.value, bytes) else bytes(str(event.value), "utf-8")
        await self.topics.deadletter.send(key=event.key, value=value, headers=meta.to_headers())

    async def send(self, topic: faust.TopicT, job_id: str, record: HeaderRecord[Any]) -> None:
        await topic.send(key=job_id.encode(), value=record.value, headers=record.meta.to_headers())

    async def report(self, job_id: str, stage: str, state: JobState, **fields: Any) -> None:
        """`tenant` and `priority`, when not given, are the ones the job's latest status names:
        every event, and above all the one the compacted topic keeps, says whose job it is
        and whether it takes a live slot. A job that ended gets no more progress reports: a
        record done again after the end (a redelivery) would otherwise leave `running` as
        the compacted topic's last word (seen: the encoder's report 0.26 s after completed)."""
        latest = self.control.latest(job_id)
        if latest is not None and latest.state.final and not state.final:
            log.info("job %s is %s already; %s's report %r not sent", job_id, latest.state.value,
                     stage, fields.get("message"))
            return
        if fields.get("tenant") is None:
            fields["tenant"] = DEFAULT_TENANT if latest is None else latest.tenant
        if fields.get("priority") is None and latest is not None:
            fields["priority"] = latest.priority
        event = StatusEvent(job_id=job_id, stage=stage, state=state, at=time.time(), **fields)
        raw = event.to_json()
        await self.topics.status.send(key=job_id.encode(), value=raw)
        # known here at once, before the topic echoes it: a late report after a final one is
        # refused above, and admission counts the slot this event takes or frees
        self.control.noted(event, raw)

    async def fail(self, job_id: str, stage: str, exc: BaseException, **fields: Any) -> None:
        log.exception("job %s failed in %s", job_id, stage, exc_info=exc)
        self.control.mark(job_id, JobState.FAILED)
        self.metrics.failures.labels(stage, type(exc).__name__).inc()
        await self.report(job_id, stage, JobState.FAILED, error=f"{stage}: {type(exc).__name__}: {exc}",
                          **fields)


def superseded(ctx: StageContext, job: JobRef) -> bool:
    """Whether the record was made before its session's latest interrupt: it keeps its place
    on the timeline (numbers, frames) but must not be heard or seen speaking."""
    return job.epoch < ctx.control.epoch(job.job_id)
