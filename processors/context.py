"""What every stage shares: the app, its topics, settings, the avatar cache, a CPU pool and
reporting.

`records()` is the one place a raw Kafka record becomes a schemas object; a record
that cannot be read goes to the dead-letter topic with the reason, and the stage
keeps going.

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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import faust

from core.store import MediaStore
from models.avatars.avatar import Avatar
from processors.avatar_cache import AvatarCache
from processors.job_control import JobControl
from processors.settings import WorkerSettings
from processors.topics import Topics
from schemas.base import Message
from schemas.pipeline import DeadLetterMeta
from schemas.status import JobState, StatusEvent

log = logging.getLogger(__name__)
T = TypeVar("T")
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


@dataclass
class StageContext:
    app: faust.App
    topics: Topics
    settings: WorkerSettings
    store: MediaStore
    avatars: AvatarCache[Avatar]  # the worker's one cache, shared by the lipsync and encoder stages
    executor: ThreadPoolExecutor
    control: JobControl

    async def run_cpu(self, fn: Callable[..., T], *args: Any) -> T:
        """CPU/GPU work runs in the pool so the event loop keeps serving Kafka."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    async def records(self, stream: faust.StreamT, stage: str, parse: Callable[[faust.EventT], T],
                      skip_stopped: bool = True) -> AsyncIterator[tuple[faust.EventT, T]]:
        """Parsed records of live jobs; every topic is keyed by job_id, so a stopped
        (failed or cancelled) job's records are skipped before any work is spent, unless
        the stage judges them itself (the chunker answers a request for a stopped job).
        Each record is held until the stage asks for the next (see the module's doc)."""
        async for event in stream.events():
            hold(event)
            if (skip_stopped and isinstance(event.key, bytes)
                    and self.control.is_stopped(event.key.decode(errors="replace"))):
                await release(stream, event)
                continue
            try:
                record = parse(event)
            except Exception as exc:  # noqa: BLE001 - unreadable: the record's fault
                await self.dead_letter(event, stage, f"{type(exc).__name__}: {exc}")
                await release(stream, event)
                continue
            yield event, record
            await release(stream, event)  # reached only when the stage is done with it

    async def dead_letter(self, event: faust.EventT, stage: str, reason: str) -> None:
        msg = event.message
        meta = DeadLetterMeta(source_topic=msg.topic, partition=msg.partition, offset=msg.offset,
                              stage=stage, reason=reason[:2000])
        log.warning("dead letter from %s[%d]@%d in %s: %s", msg.topic, msg.partition, msg.offset,
                    stage, meta.reason)
        value = event.value if isinstance(event.value, bytes) else bytes(str(event.value), "utf-8")
        await self.topics.deadletter.send(key=event.key, value=value, headers=meta.to_headers())

    async def send(self, topic: faust.TopicT, job_id: str, record: HeaderRecord[Any]) -> None:
        await topic.send(key=job_id.encode(), value=record.value, headers=record.meta.to_headers())

    async def report(self, job_id: str, stage: str, state: JobState, **fields: Any) -> None:
        event = StatusEvent(job_id=job_id, stage=stage, state=state, at=time.time(), **fields)
        await self.topics.status.send(key=job_id.encode(), value=event.to_json())

    async def fail(self, job_id: str, stage: str, exc: BaseException) -> None:
        log.exception("job %s failed in %s", job_id, stage, exc_info=exc)
        self.control.mark(job_id, JobState.FAILED)
        await self.report(job_id, stage, JobState.FAILED, error=f"{stage}: {type(exc).__name__}: {exc}")
