"""Job progress on the compacted status topic (key: job_id)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from schemas.base import DEFAULT_TENANT, JOB_ID_PATTERN, TENANT_PATTERN, Message, Priority


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self in (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED)


class StatusEvent(Message):
    """What one stage says about a job. The gateway folds them into JobStatus."""

    job_id: str = Field(pattern=JOB_ID_PATTERN)
    state: JobState
    stage: str
    at: float = Field(description="unix seconds")
    progress: float | None = Field(None, ge=0.0, le=1.0)
    message: str | None = Field(None, description="what the stage says; also why a request "
                                "for this job_id was refused (the state stays as it was)")
    error: str | None = None
    avatar_id: str | None = None
    voice_id: str | None = None
    text_chars: int | None = None
    sentences: int | None = None
    segments: int | None = None
    video_duration_s: float | None = None
    audio_duration_s: float | None = None
    created_at: float | None = None
    tenant: str = Field(DEFAULT_TENANT, pattern=TENANT_PATTERN, description="the job's owner; once a job "
                        "has one other than `default`, later events do not change it")
    webhook_url: str | None = Field(None, description="the request's webhook: on the events the "
                                    "gateway and the first stage write, for the webhooks stage")
    epoch: int | None = Field(None, ge=0, description="a session's interrupts so far, on the event "
                              "of each interrupt: every stage silences records of an older epoch")
    priority: Priority | None = Field(None, description="live or batch; set by the chunker, "
                                      "carried on the job's later events")
    queue_position: int | None = Field(None, ge=1, description="while the job waits for a slot: "
                                       "its place in line (1: next)")
    estimated_start_s: float | None = Field(None, ge=0, description="while the job waits for a "
                                            "slot: about how many seconds until it starts")
