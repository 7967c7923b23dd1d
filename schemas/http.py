"""HTTP request and response bodies of the gateway."""

from __future__ import annotations

from pydantic import Field, field_validator

from schemas.base import AVATAR_ID_PATTERN, Message
from schemas.options import RenderOptions
from schemas.requests import DEFAULT_AVATAR_ID, DEFAULT_VOICE_ID, MAX_SCRIPT_CHARS, _not_blank
from schemas.status import JobState


class GenerateRequest(Message):
    text: str = Field(max_length=MAX_SCRIPT_CHARS)
    avatar_id: str = Field(DEFAULT_AVATAR_ID, pattern=AVATAR_ID_PATTERN)
    voice_id: str = Field(DEFAULT_VOICE_ID, max_length=128)
    options: RenderOptions = RenderOptions()

    _text_not_blank = field_validator("text")(_not_blank)


class GenerateResponse(Message):
    job_id: str
    state: JobState
    status_url: str
    stream_url: str
    video_url: str


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
