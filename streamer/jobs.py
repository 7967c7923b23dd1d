"""The gateway's view of jobs: status folded from the status topic, segments for relay.

Everything here is rebuilt from Kafka (the compacted status topic and the
segments topic), so a restarted gateway comes back to the same jobs.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from schemas.base import DEFAULT_TENANT
from schemas.http import JobStatus, Stall
from schemas.pipeline import CaptionChunk, SegmentMeta
from schemas.sessions import SESSION_STAGE
from schemas.status import JobState, StatusEvent
from schemas.usage import UsageRecord
from streamer.settings import Prices
from streamer.usage import UsageLedger

# The stage name of the event a DELETE produces: a cancel that also hides the job.
DELETE_STAGE = "gateway:delete"

# How much of the job each stage's progress stands for, in pipeline order.
_STAGE_SHARE = {"chunker": 0.0, "tts": 0.9, "assembler": 1.0, "avatars": 1.0}


@dataclass
class JobView:
    job_id: str
    status: JobStatus
    init: bytes | None = None
    mime: str | None = None
    media: dict[int, tuple[SegmentMeta, bytes]] = field(default_factory=dict)
    total: int | None = None
    captions: dict[int, CaptionChunk] = field(default_factory=dict)
    deleted: bool = False
    progress_at: float | None = None  # unix seconds of the last status event, segment or caption
    session_said: str | None = None  # a live session's stage's last message: why it ended, kept
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        """Wake every waiter; each re-arms by calling wait()."""
        self.changed.set()
        self.changed = asyncio.Event()

    async def wait(self, timeout_s: float, since: asyncio.Event | None = None) -> None:
        """Until the next change, or at once if there was one after `since` (an earlier `changed`)."""
        event = self.changed if since is None else since
        try:
            await asyncio.wait_for(event.wait(), timeout_s)
        except TimeoutError:
            pass

    def progressed(self, at: float) -> None:
        """Something arrived for this job (even a repeat): it is not stalled (any more)."""
        self.progress_at = at if self.progress_at is None else max(self.progress_at, at)
        if self.status.stalled is not None:
            self.status = self.status.model_copy(update={"stalled": None})
            self.notify()


def _fold(status: JobStatus, event: StatusEvent) -> JobStatus:
    """Merge one stage's report; a final state is never replaced by a running one."""
    data = status.model_dump()
    if not (status.state.final and not event.state.final):
        data["state"] = event.state
    data["stage"] = event.stage
    data["updated_at"] = event.at
    for name in ("message", "error", "avatar_id", "voice_id", "sentences", "segments",
                 "video_duration_s", "audio_duration_s", "created_at"):
        value = getattr(event, name)
        if value is not None:
            data[name] = value
    if event.progress is not None and event.stage in _STAGE_SHARE:
        data["progress"] = max(status.progress, round(event.progress * _STAGE_SHARE[event.stage], 4))
    if event.state is JobState.COMPLETED:
        data["progress"] = 1.0
    if status.tenant == DEFAULT_TENANT:  # a job's owner, once named, is never changed
        data["tenant"] = event.tenant
    if event.priority is not None:
        data["priority"] = event.priority
    if data["state"] is JobState.QUEUED and event.queue_position is not None:  # waits for a slot
        data["queue_position"], data["estimated_start_s"] = event.queue_position, event.estimated_start_s
    elif data["state"] is not JobState.QUEUED:
        data["queue_position"] = data["estimated_start_s"] = None
    created = data.get("created_at")
    if created is not None and event.stage not in data["timings_s"]:
        data["timings_s"] = {**data["timings_s"], event.stage: round(event.at - created, 4)}
    return JobStatus.model_validate(data)


class JobBoard:
    """All known jobs' status; segment bytes kept only for the most recent jobs."""

    def __init__(self, jobs_in_memory: int = 64, prices: Prices | None = None) -> None:
        self._jobs: dict[str, JobView] = {}
        self._with_media: OrderedDict[str, None] = OrderedDict()
        self._jobs_in_memory = jobs_in_memory
        self._prices = Prices() if prices is None else prices
        self.usage = UsageLedger()

    def get(self, job_id: str) -> JobView | None:
        """A job that was deleted is gone, as far as clients can tell."""
        view = self._jobs.get(job_id)
        return None if view is None or view.deleted else view

    def all(self) -> list[JobView]:
        return [view for view in self._jobs.values() if not view.deleted]

    def page(self, states: set[JobState] | None, offset: int, limit: int,
             sees: Callable[[str], bool] | None = None) -> tuple[list[JobStatus], int]:
        """Newest first (by creation, then last update); returns the page and the matching total.
        `sees`: which tenants' jobs to count (streamer/tenants.py), all when None."""
        matching = [v.status for v in self.all() if (states is None or v.status.state in states)
                    and (sees is None or sees(v.status.tenant))]
        matching.sort(key=lambda s: (s.created_at or s.updated_at or 0.0, s.job_id), reverse=True)
        return matching[offset:offset + limit], len(matching)

    def _view(self, job_id: str) -> JobView:
        view = self._jobs.get(job_id)
        if view is None:
            status = JobStatus(job_id=job_id, state=JobState.QUEUED)
            if (usage := self.usage.get(job_id)) is not None:  # its usage came first
                status = status.model_copy(update={"usage": usage.tally.usage(self._prices)})
            view = self._jobs[job_id] = JobView(job_id, status)
        return view

    def expired(self, before: float) -> list[JobStatus]:
        """Jobs finished (or deleted) before `before`, unix seconds: the retention sweep's work."""
        return [view.status for view in self._jobs.values()
                if (view.status.state.final or view.deleted)
                and (view.status.updated_at or 0.0) < before]

    def forget(self, job_id: str) -> None:
        """The job's status is gone from the topic (a tombstone); its usage stays billed."""
        self._jobs.pop(job_id, None)
        self._with_media.pop(job_id, None)

    def apply_status(self, event: StatusEvent) -> JobView:
        view = self._view(event.job_id)
        view.status = _fold(view.status, event)  # keeps the usage folded in by apply_usage
        if view.status.created_at is not None:
            self.usage.describe(event.job_id, view.status.created_at, view.status.tenant)
        view.progressed(event.at)
        if event.stage == SESSION_STAGE and event.message:
            view.session_said = event.message
        if event.stage == DELETE_STAGE:
            view.deleted = True
            view.init, view.media, view.captions = None, {}, {}
        view.notify()
        return view

    def apply_segment(self, meta: SegmentMeta, data: bytes, at: float | None = None) -> JobView | None:
        """Duplicates (same job, kind, seq) are dropped here, before any client sees them;
        `at` (unix seconds, the record's time) is when the job last made progress. Returns
        the job's view when the segment was new to it."""
        view = self._view(meta.job_id)
        if view.deleted:
            return None
        view.progressed(time.time() if at is None else at)
        if meta.kind == "init":
            if view.init is not None:
                return None
            view.init, view.mime = data, meta.mime
        elif meta.kind == "media":
            if meta.seq in view.media:
                return None
            view.media[meta.seq] = (meta, data)
        else:
            view.total = meta.total
        self._remember_media(meta.job_id)
        view.notify()
        return view

    def apply_usage(self, record: UsageRecord) -> None:
        """A piece of work counted once, however often its record comes (streamer/usage.py)."""
        usage = self.usage.add(record)
        view = self._jobs.get(record.job_id)
        if usage is not None and view is not None and not view.deleted:
            view.status = view.status.model_copy(update={"usage": usage.tally.usage(self._prices)})

    def apply_captions(self, chunk: CaptionChunk, at: float | None = None) -> None:
        view = self._jobs.get(chunk.job_id)
        if view is None or view.deleted or chunk.seq in view.captions:
            return
        view.progressed(time.time() if at is None else at)
        view.captions[chunk.seq] = chunk
        view.notify()

    def set_stalled(self, view: JobView, stall: Stall | None) -> None:
        """Set by the stall watcher (streamer/stalls.py); progress clears it by itself."""
        if view.status.stalled != stall:
            view.status = view.status.model_copy(update={"stalled": stall})
            view.notify()

    def _remember_media(self, job_id: str) -> None:
        self._with_media[job_id] = None
        self._with_media.move_to_end(job_id)
        while len(self._with_media) > self._jobs_in_memory:
            old, _ = self._with_media.popitem(last=False)
            view = self._jobs.get(old)
            if view is not None:
                view.init, view.media, view.captions = None, {}, {}
