"""What every worker knows of each job from the compacted status topic.

Each worker reads the status topic from the beginning, with no consumer group, so the
answer comes from Kafka and survives restarts. Stages skip records of stopped (failed or
cancelled) jobs in `StageContext.records`, and may register a callback to free per-job
state. The chunker counts the jobs that run and wait (`load`) to admit new ones, asks for
a job's latest event (`latest`, after `sync`) to judge a request that reuses a job_id, and
copies it to note a refusal without changing the job.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import ConsumerRecord

from processors.admission import JobLoad
from processors.topic_follower import TopicFollower
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


class JobControl(TopicFollower):
    def __init__(self, bootstrap_servers: str, status_topic: str, remember: int = 100_000) -> None:
        super().__init__(bootstrap_servers, status_topic)
        self._remember = remember
        self._stopped: OrderedDict[str, JobState] = OrderedDict()
        self._latest: OrderedDict[str, _Latest] = OrderedDict()
        self._callbacks: list[Callable[[str], None]] = []
        self._epochs: OrderedDict[str, int] = OrderedDict()  # sessions' latest interrupt counts
        self.load = JobLoad()  # what runs and what waits, for admission (processors/admission.py)

    def is_stopped(self, job_id: str) -> bool:
        return job_id in self._stopped

    def epoch(self, job_id: str) -> int:
        """A session's interrupts so far, as its status events said (0 for a job)."""
        return self._epochs.get(job_id, 0)

    def note_epoch(self, job_id: str, epoch: int) -> None:
        """Also called directly by the session stage, before the topic echoes it."""
        if epoch > self._epochs.get(job_id, 0):
            self._epochs[job_id] = epoch
            self._epochs.move_to_end(job_id)
            while len(self._epochs) > self._remember:
                self._epochs.popitem(last=False)

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

    def noted(self, event: StatusEvent, raw: bytes) -> None:
        """An event this process has just sent (`raw`: its JSON), folded in before the topic
        echoes it."""
        self._remember_event(event, raw)
        self.load.fold(event)
        self.mark(event.job_id, event.state)

    def _remember_event(self, event: StatusEvent, raw: bytes) -> None:
        kept = self._latest.get(event.job_id)
        if keeps(None if kept is None else kept.state, event.state):
            return
        self._latest[event.job_id] = _Latest(event.state, raw)
        self._latest.move_to_end(event.job_id)
        while len(self._latest) > self._remember:
            self._latest.popitem(last=False)

    def on_record(self, record: ConsumerRecord) -> None:
        try:
            event = StatusEvent.from_json(record.value or b"")
        except ValueError:
            return  # a tombstone, or not ours to judge: the gateway logs unreadable records
        self._remember_event(event, record.value or b"")
        if event.epoch is not None:
            self.note_epoch(event.job_id, event.epoch)
        self.load.fold(event)
        self.mark(event.job_id, event.state)
