"""Admission: how many live streams run at once, and who waits, in what order, how long.

The stages serve every job they hold by deadline (processors/schedule.py), but past what
the workers can make in real time every viewer slows down together. So the chunker starts
a live job only while fewer than `AVATAR_MAX_LIVE_JOBS` live jobs run; the others wait as
`queued`, with their place in line and an estimated start, and start in the order they
came as running jobs end. Batch jobs (`priority: batch`) start only while no live job
waits and live and batch jobs together leave a slot free, and the stages serve their
records only when no live record is due: they use spare capacity and never delay a viewer.

Every worker folds the status topic (processors/job_control.py) into the same `JobLoad`,
so every chunker sees the same queue. Two chunkers may each admit a job within the
moment the status topic takes to tell the other (a few hundred milliseconds): the limit
can be passed by one job per worker for that long, never more.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

from schemas.base import Priority
from schemas.status import JobState, StatusEvent

CHARS_PER_S = 16.0  # speech rate: how long a queued-behind job will run, from its script
DEFAULT_JOB_S = 60.0  # when a job's length is not known (audio jobs, a restarted worker)
STALE_S = 120.0  # a running job that says nothing for this long holds no slot (a stuck job)


@dataclass
class _Running:
    priority: Priority
    started_at: float  # unix seconds
    expected_s: float
    last_at: float


@dataclass(frozen=True)
class _Waiting:
    priority: Priority
    queued_at: float


class JobLoad:
    """Jobs running and jobs waiting for a slot, folded from status events."""

    def __init__(self, remember: int = 100_000) -> None:
        self.running: dict[str, _Running] = {}
        self.waiting: dict[str, _Waiting] = {}
        self._ended: OrderedDict[str, None] = OrderedDict()
        self._remember = remember

    def fold(self, event: StatusEvent) -> None:
        job_id = event.job_id
        if event.state.final:
            self.running.pop(job_id, None)
            self.waiting.pop(job_id, None)
            self._ended[job_id] = None
            while len(self._ended) > self._remember:
                self._ended.popitem(last=False)
            return
        if job_id in self._ended:  # a late report of a stage (a record done again): it stays ended
            return
        priority: Priority = event.priority or "live"
        if event.state is JobState.QUEUED:
            if event.queue_position is not None and job_id not in self.running:
                kept = self.waiting.get(job_id)
                # in line by when the job was submitted: every worker, restarted or not, agrees
                queued_at = event.created_at or (event.at if kept is None else kept.queued_at)
                self.waiting[job_id] = _Waiting(priority, queued_at)
            return
        self.waiting.pop(job_id, None)
        running = self.running.get(job_id)
        if running is None:
            expected = event.text_chars / CHARS_PER_S if event.text_chars else DEFAULT_JOB_S
            self.running[job_id] = _Running(priority, event.at, expected, event.at)
        else:
            running.last_at = max(running.last_at, event.at)
            if event.priority is not None:
                running.priority = event.priority

    def running_count(self, priority: Priority, now: float) -> int:
        return sum(1 for r in self.running.values()
                   if r.priority == priority and now - r.last_at < STALE_S)

    def line(self, priority: Priority) -> list[str]:
        """The jobs of `priority` waiting, first come first."""
        waiting = [(w.queued_at, job_id) for job_id, w in self.waiting.items() if w.priority == priority]
        return [job_id for _, job_id in sorted(waiting)]

    def remaining_s(self, now: float) -> list[float]:
        """Each running live job's expected time left, shortest first."""
        return sorted(max(0.0, r.started_at + r.expected_s - now) for r in self.running.values()
                      if r.priority == "live" and now - r.last_at < STALE_S)


@dataclass(frozen=True)
class Place:
    """A waiting job's place: 1 is next; `estimated_start_s` from now."""

    position: int
    estimated_start_s: float


class Admission:
    def __init__(self, load: JobLoad, max_live: int) -> None:
        self.load = load
        self.max_live = max_live  # 0: no limit

    def _free(self, priority: Priority, now: float) -> float:
        if self.max_live <= 0:
            return math.inf
        live = self.load.running_count("live", now)
        if priority == "live":
            return self.max_live - live
        if self.load.line("live"):
            return 0
        return self.max_live - live - self.load.running_count("batch", now)

    def may_start(self, job_id: str, priority: Priority, now: float) -> bool:
        """A job already waiting goes by its place in line; a new one joins the end of it."""
        if job_id in self.load.running:
            return True  # a redelivered request of a job that runs: it goes on
        line = self.load.line(priority)
        rank = line.index(job_id) if job_id in line else len(line)
        return rank < self._free(priority, now)

    def place(self, job_id: str, priority: Priority, now: float) -> Place:
        live = self.load.line("live")
        ahead = live if priority == "live" else live + self.load.line("batch")
        position = (ahead.index(job_id) if job_id in ahead else len(ahead)) + 1
        slots = self.load.remaining_s(now)  # when each running job's slot frees
        capacity = max(1, self.max_live)
        if position <= len(slots):
            eta = slots[position - 1]
        else:
            rounds = math.ceil((position - len(slots)) / capacity)
            eta = (slots[-1] if slots else 0.0) + rounds * DEFAULT_JOB_S
        return Place(position, round(eta, 1))
