"""What a job used: a record per piece of work on the compacted usage topic, and the sums
the gateway shows in a job's status and per key and day.

A piece of work is named by its key, `job_id/stage/part` (part: the chunk or sentence
number, or a stream's id), so a record done again after a fail-over replaces the first
instead of adding to it: the sums count each piece once.
"""

from __future__ import annotations

from pydantic import Field

from schemas.base import JOB_ID_PATTERN, Message


class UsageRecord(Message):
    """One piece of one job's work (JSON value; key `job_id/stage/part`, see `key`)."""

    job_id: str = Field(pattern=JOB_ID_PATTERN)
    stage: str = Field(description="a pipeline stage, or `stream` for a WebSocket client")
    part: str = Field(min_length=1, max_length=64, description="the chunk or sentence number, or a stream's id")
    cpu_s: float = Field(0.0, ge=0, description="CPU seconds of the threads that did the work")
    gpu_s: float = Field(0.0, ge=0, description="seconds the work held the GPU")
    tts_characters: dict[str, int] = Field(default_factory=dict,
                                           description="speech provider -> characters sent to it")
    video_s: float = Field(0.0, ge=0, description="seconds of video made")
    bytes_streamed: int = Field(0, ge=0, description="bytes sent to a WebSocket client")
    created_at: float | None = Field(None, description="the job's creation (unix seconds): set on the "
                                     "record the retention sweep leaves when it removes the job's status")
    tenant: str | None = Field(None, description="the job's owner, on that same record")

    @property
    def key(self) -> bytes:
        return f"{self.job_id}/{self.stage}/{self.part}".encode()


class Usage(Message):
    """Sums over pieces of work, with their estimated cost at the configured prices."""

    cpu_s: dict[str, float] = Field(default_factory=dict, description="stage -> CPU seconds")
    gpu_s: dict[str, float] = Field(default_factory=dict, description="stage -> GPU seconds")
    tts_characters: dict[str, int] = Field(default_factory=dict, description="provider -> characters")
    video_s: float = 0.0
    bytes_streamed: int = 0
    cost: float = Field(0.0, description="estimated, in `currency`, from the configured prices")
    currency: str = "USD"


class UsageDay(Message):
    """One key's jobs created on one UTC day."""

    day: str = Field(description="YYYY-MM-DD, UTC, of the jobs' creation")
    tenant: str = Field(description="the key's owner (`default` in dev mode)")
    jobs: int
    usage: Usage


class UsageReport(Message):
    days: list[UsageDay]
    prices: dict[str, float] = Field(description="the prices the costs were estimated with")
