"""HTTP request and response bodies of the gateway."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.base import AVATAR_ID_PATTERN, DEFAULT_TENANT, Message, Priority
from schemas.options import RenderOptions
from schemas.requests import (
    DEFAULT_AVATAR_ID,
    DEFAULT_VOICE_ID,
    MAX_SCRIPT_CHARS,
    SpokenText,
    VoiceId,
)
from schemas.status import JobState
from schemas.usage import Usage


class GenerateRequest(Message):
    text: SpokenText = Field(max_length=MAX_SCRIPT_CHARS)
    avatar_id: str = Field(DEFAULT_AVATAR_ID, pattern=AVATAR_ID_PATTERN)
    voice_id: VoiceId = DEFAULT_VOICE_ID
    options: RenderOptions = RenderOptions()
    webhook_url: str | None = Field(None, max_length=2048, description="http(s) URL that gets the "
                                    "signed job.completed / job.failed event (README: Webhooks)")
    priority: Priority | None = Field(None, description="live (the default of generate) or batch "
                                      "(the default of batch): batch jobs use spare capacity only")


class GenerateResponse(Message):
    job_id: str
    state: JobState
    status_url: str
    stream_url: str
    video_url: str


class Stall(Message):
    """A job that made no progress for a while: the stage it waits in, since when, and why."""

    stage: str
    since: float = Field(description="unix seconds of the job's last progress: a status event, "
                                     "segment or caption")
    reason: str


class JobStatus(Message):
    job_id: str
    state: JobState
    stage: str | None = None
    progress: float = 0.0
    message: str | None = None
    error: str | None = None
    avatar_id: str | None = None
    voice_id: str | None = None
    created_at: float | None = None
    updated_at: float | None = None
    timings_s: dict[str, float] = Field(default_factory=dict, description="seconds from creation to each stage's first report")
    sentences: int | None = None
    segments: int | None = None
    video_duration_s: float | None = None
    audio_duration_s: float | None = None
    video_url: str | None = None
    stalled: Stall | None = Field(None, description="set while a queued or running job makes "
                                                    "no progress")
    usage: Usage | None = Field(None, description="what the job used so far, with its estimated cost")
    tenant: str = Field(DEFAULT_TENANT, description="the job's owner: its API key's sha256 hex digest")
    priority: Priority = "live"
    queue_position: int | None = Field(None, description="while the job waits for a slot (queued): "
                                       "its place in line, 1 next")
    estimated_start_s: float | None = Field(None, description="while the job waits for a slot: "
                                            "about how many seconds until it starts")


class ErrorBody(Message):
    error: str
    detail: object | None = None


MAX_BATCH_SCRIPTS = 100


class BatchRequest(Message):
    """Many scripts at once; all are validated before any job is created."""

    scripts: list[GenerateRequest] = Field(min_length=1, max_length=MAX_BATCH_SCRIPTS)


class BatchResponse(Message):
    jobs: list[GenerateResponse]


class JobList(Message):
    """One page of jobs, newest first; pass `next_offset` as `offset` for the next page."""

    jobs: list[JobStatus]
    total: int = Field(description="jobs matching the filter, on all pages")
    offset: int
    limit: int
    next_offset: int | None = None


class StageHealth(Message):
    workers: list[str] = Field(description="ids of the live workers that run this stage")
    lag: int | None = Field(description="records its live workers have not committed yet; "
                                        "None when none reports it")


class WorkerHealth(Message):
    worker_id: str
    host: str
    pid: int
    stages: list[str]
    age_s: float = Field(description="seconds since its last heartbeat")
    partitions: dict[str, list[int]]
    jobs: dict[str, list[str]]
    lag: dict[str, int]


class Health(Message):
    """The gateway's view of the service: 200 while the broker answers, 503 when it does not."""

    status: Literal["ok", "degraded"]
    broker: bool
    degraded: bool = Field(description="the broker does not answer, a stage has no live worker, "
                                       "or the media volume is below its free-space threshold")
    reasons: list[str]
    stages: dict[str, StageHealth]
    workers: list[WorkerHealth] = Field(description="live workers, by worker id")


class AudioGenerateForm(Message):
    """The text fields of a multipart POST /api/v1/generate, beside its `audio` file part."""

    avatar_id: str = Field(DEFAULT_AVATAR_ID, pattern=AVATAR_ID_PATTERN)
    options: RenderOptions = RenderOptions()
    webhook_url: str | None = Field(None, max_length=2048)
