"""A stand-in for StageContext that runs a stage's agent loop over a list of records, without
Kafka: sends, reports, dead letters and failures are collected for the test to read, and a
dict plays the stage's Faust table."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

from core.store import MediaStore
from processors.admission import JobLoad
from processors.settings import WorkerSettings
from schemas.status import JobState, StatusEvent
from schemas.usage import UsageRecord

T = TypeVar("T")


@dataclass
class FakeRecord:
    """What a stage's parse function reads of a Faust event."""

    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    partition: int = 0

    @property
    def message(self) -> SimpleNamespace:
        return SimpleNamespace(partition=self.partition)


@dataclass
class FakeControl:
    """JobControl as the stages see it: the latest event per job, the stopped ones."""

    events: dict[str, StatusEvent] = field(default_factory=dict)
    syncs: int = 0
    load: JobLoad = field(default_factory=JobLoad)

    def latest(self, job_id: str) -> StatusEvent | None:
        return self.events.get(job_id)

    def is_stopped(self, job_id: str) -> bool:
        event = self.events.get(job_id)
        return event is not None and event.state in (JobState.FAILED, JobState.CANCELLED)

    def mark(self, job_id: str, state: JobState) -> None:
        pass

    def noted(self, event: StatusEvent, raw: bytes) -> None:
        self.load.fold(event)  # as JobControl: what this process sends counts at once

    async def sync(self) -> bool:
        self.syncs += 1
        return True


@dataclass
class FakeTopic:
    sent: list[tuple[bytes | None, bytes]] = field(default_factory=list)

    async def send(self, key: bytes | None = None, value: bytes = b"",
                   headers: Any = None) -> None:
        self.sent.append((key, value))


class FakeProducer:
    def __init__(self) -> None:
        self.flushes = 0

    async def flush(self) -> None:
        self.flushes += 1


class FakeContext:
    def __init__(self, root: Path, settings: WorkerSettings | None = None) -> None:
        self.store = MediaStore(root)
        self.settings = settings or WorkerSettings(data_dir=root)
        self.control = FakeControl()
        self.app = SimpleNamespace(producer=FakeProducer())
        self.topics = SimpleNamespace(status=FakeTopic(), sentences=FakeTopic())
        self.feed: list[FakeRecord] = []
        self.dead_letters: list[tuple[bytes | None, str]] = []
        self.reports: list[StatusEvent] = []
        self.failures: list[tuple[str, str]] = []
        self.usage: list[UsageRecord] = []

    async def account(self, job_id: str, stage: str, part: int | str, **fields: Any) -> None:
        self.usage.append(UsageRecord(job_id=job_id, stage=stage, part=str(part),
                                      **{k: v for k, v in fields.items() if v is not None}))

    async def run_cpu(self, fn: Callable[..., T], *args: Any) -> T:
        return fn(*args)

    async def records(self, stream: Any, stage: str, parse: Callable[[Any], T],
                      skip_stopped: bool = True) -> AsyncIterator[tuple[Any, T]]:
        """The feed, parsed as StageContext.records does: unreadable ones become dead letters."""
        while self.feed:
            event = self.feed.pop(0)
            if skip_stopped and event.key and self.control.is_stopped(event.key.decode()):
                continue
            try:
                record = parse(event)
            except Exception as exc:  # noqa: BLE001 - as StageContext.records
                await self.dead_letter(event, stage, f"{type(exc).__name__}: {exc}")
                continue
            yield event, record

    async def dead_letter(self, event: FakeRecord, stage: str, reason: str) -> None:
        self.dead_letters.append((event.value, reason))

    async def report(self, job_id: str, stage: str, state: JobState, **fields: Any) -> None:
        if fields.get("tenant") is None:  # as StageContext: the job's latest event names it
            latest = self.control.latest(job_id)
            fields["tenant"] = "default" if latest is None else latest.tenant
        event = StatusEvent(job_id=job_id, stage=stage, state=state, at=time.time(), **fields)
        self.reports.append(event)
        self.control.noted(event, event.to_json())

    async def fail(self, job_id: str, stage: str, exc: BaseException, tenant: str | None = None) -> None:
        self.failures.append((job_id, f"{stage}: {type(exc).__name__}: {exc}"))
        self.control.events[job_id] = StatusEvent(job_id=job_id, stage=stage,
                                                  state=JobState.FAILED, at=1.0)
