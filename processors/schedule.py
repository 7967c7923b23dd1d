"""Deadline scheduling inside a stage: the records of every job it holds, served by when
their viewers will need them, not in the order they arrived.

A partition carries many jobs, and a stage that serves it in arrival order makes a job
wait for the whole of the jobs before it (the sixth of six concurrent viewers waited 87 s
for its first segment). So a stage reads ahead into one queue per job (each job's records
stay in their order) and always serves the job whose next record is due first.

Batch jobs (no viewer waits) are served only when no live job's record is due within the
lead: they use the time live work leaves, and the CPU pool gives their work the lowest
priority.

A record's due time is where it sits on its job's timeline (`position_s`, seconds of
video) from the moment the stage first served that job: the first record a stage sees of
a job is due at once, whether it is the job's first or, after a fail-over, one halfway
through, and a job that is ahead of its viewer yields to every job nearer its viewer. A
record due more than the lead (`AVATAR_LEAD_S`, 10 s) from now waits: the stages share the
CPU, and a stage racing through one job's whole script would take it from the stages
that make other jobs' next segments.
Positions are read when a job's next record is chosen, so a stage whose positions grow as
it works (the tts stage's spoken audio) gives the current one.

Records finish out of order within a partition; the worker's consumer commits a partition
only up to its first record not yet done (processors/kafka_driver.py), so fail-over keeps
its guarantee.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class DeadlineQueue(Generic[T]):
    """Per-job FIFO queues; `take` gives the head whose deadline is earliest."""

    def __init__(self, position_s: Callable[[T], float], clock: Callable[[], float] = time.monotonic,
                 remembered_jobs: int = 10_000, is_batch: Callable[[T], bool] = lambda _: False) -> None:
        self._position_s = position_s
        self._is_batch = is_batch
        self._clock = clock
        self._jobs: dict[str, deque[T]] = {}
        self._origin: OrderedDict[str, float] = OrderedDict()  # job -> when its position 0 is due
        self._remembered = remembered_jobs
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def put(self, job_id: str, entry: T) -> None:
        self._jobs.setdefault(job_id, deque()).append(entry)
        self._size += 1

    def deadline(self, job_id: str, entry: T) -> float:
        position = self._position_s(entry)
        if job_id not in self._origin:
            self._origin[job_id] = self._clock() - position  # first seen: due now
            if len(self._origin) > self._remembered:
                self._origin.popitem(last=False)
        return self._origin[job_id] + position

    def is_batch(self, job_id: str) -> bool:
        queue = self._jobs.get(job_id)
        return bool(queue) and self._is_batch(queue[0])

    def earliest(self, lead_s: float = float("inf")) -> tuple[str, float] | None:
        """The job whose head is served next (ties: the job queued first), and when it may
        be. A live job's head due within `lead_s` comes first; then a batch job's, at once:
        batch work fills the time no live record is due in (it has no viewer to lead);
        then the earliest live head, at its deadline."""
        if not self._size:
            return None
        live = [j for j in self._jobs if not self.is_batch(j)]
        batch = [j for j in self._jobs if self.is_batch(j)]
        if live:
            job_id = min(live, key=lambda j: self.deadline(j, self._jobs[j][0]))
            due = self.deadline(job_id, self._jobs[job_id][0])
            if not batch or due <= self._clock() + lead_s:
                return job_id, due
        job_id = min(batch, key=lambda j: self.deadline(j, self._jobs[j][0]))
        return job_id, min(self._clock(), self.deadline(job_id, self._jobs[job_id][0]))

    def take(self, lead_s: float = float("inf")) -> tuple[str, T] | None:
        """The head `earliest` names, removed; None when empty or when even that one is due
        more than `lead_s` from now (its job is that far ahead of its viewer)."""
        first = self.earliest(lead_s)
        if first is None or first[1] > self._clock() + lead_s:
            return None
        job_id = first[0]
        queue = self._jobs[job_id]
        entry = queue.popleft()
        if not queue:
            del self._jobs[job_id]
        self._size -= 1
        return job_id, entry

    def jobs(self) -> list[str]:
        return list(self._jobs)


class ReadAhead:
    """How much a stage may hold unserved: at most `records` records and `max_bytes` bytes
    (one record is always let in, however large). Faust has fetched these records already;
    the bound keeps a stage that is behind from taking all of them into its queues."""

    def __init__(self, records: int, max_bytes: int) -> None:
        self.records, self.max_bytes = records, max_bytes
        self.held = self.held_bytes = 0
        self._changed = asyncio.Condition()

    def _fits(self, nbytes: int) -> bool:
        return self.held == 0 or (self.held < self.records and self.held_bytes + nbytes <= self.max_bytes)

    async def acquire(self, nbytes: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._fits(nbytes))
            self.held += 1
            self.held_bytes += nbytes

    async def release(self, nbytes: int) -> None:
        async with self._changed:
            self.held -= 1
            self.held_bytes -= nbytes
            self._changed.notify_all()
