"""Stuck jobs made visible: a queued or running job without progress for `stall_s` gets
`stalled: {stage, since, reason}` in its status (GET /api/v1/status and the WebSocket's
status message); the next status event, segment or caption of the job clears it.

Which stage it waits in follows from what it last reported: the stages that still owe it
work, in pipeline order, the first of them without a live worker (the likely cause), else
the first of them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from schemas.avatars import AVATAR_STAGE
from schemas.http import JobStatus, Stall
from schemas.sessions import SESSION_ID_PREFIX
from schemas.status import JobState
from streamer.jobs import _STAGE_SHARE, JobBoard, JobView
from streamer.workers import WorkerBoard

_SCRIPT_STAGES = ("chunker", "tts", "lipsync", "encoder", "assembler")
TTS_SHARE = _STAGE_SHARE["tts"]  # a job's progress once every sentence is spoken


def owed_stages(status: JobStatus, end_seen: bool) -> tuple[str, ...]:
    """The stages that still owe this job work, in pipeline order. lipsync reports only its
    first chunk, so it owes work until the encoder reports the last one (or the end shows)."""
    if status.stage == AVATAR_STAGE:
        return (AVATAR_STAGE,)
    if end_seen or status.stage in ("encoder", "assembler"):
        return ("assembler",)
    if status.progress >= TTS_SHARE:  # every sentence spoken
        return _SCRIPT_STAGES[2:]
    if status.sentences is not None or status.stage not in (None, "gateway"):
        return _SCRIPT_STAGES[1:]
    return _SCRIPT_STAGES


def waiting_stage(status: JobStatus, end_seen: bool, live: Mapping[str, int]) -> tuple[str, str]:
    """(stage, reason), given the number of live workers per stage."""
    owed = owed_stages(status, end_seen)
    for stage in owed:
        if not live.get(stage):
            return stage, f"no live worker runs {stage}"
    stage = owed[0]
    return stage, f"no progress in {stage}, which {live[stage]} live worker(s) run"


def stall_of(view: JobView, live: Mapping[str, int], now: float, stall_s: float) -> Stall | None:
    status = view.status
    if view.deleted or status.state not in (JobState.QUEUED, JobState.RUNNING):
        return None
    if view.job_id.startswith(SESSION_ID_PREFIX):  # a live session waits for its input, not a stage
        return None
    since = view.progress_at if view.progress_at is not None else status.updated_at
    if since is None or now - since < stall_s:
        return None
    stage, reason = waiting_stage(status, view.total is not None, live)
    return Stall(stage=stage, since=since, reason=reason)


def mark_stalls(board: JobBoard, workers: WorkerBoard, stall_s: float,
                now: float | None = None) -> None:
    at = time.time() if now is None else now
    live = {stage: len(beats) for stage, beats in workers.live_by_stage(at).items()}
    for view in board.all():
        board.set_stalled(view, stall_of(view, live, at, stall_s))


async def watch_stalls(board: JobBoard, workers: WorkerBoard, stall_s: float) -> None:
    """Runs for the gateway's lifetime; a stall shows within a second of `stall_s`."""
    every_s = min(1.0, stall_s / 4)
    while True:
        mark_stalls(board, workers, stall_s)
        await asyncio.sleep(every_s)
