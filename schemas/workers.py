"""Worker heartbeats on the compacted workers topic (key: worker_id).

Every worker process publishes one every `interval_s` seconds, and a last one with
`gone=True` when it stops cleanly. A worker counts as live while its newest heartbeat
is younger than HEARTBEAT_MISSES intervals, so one killed outright drops out on its own.
"""

from __future__ import annotations

from pydantic import Field

from schemas.base import Message

# Every stage a worker can run, in pipeline order (avatars and webhooks are off the job's path).
STAGES = ("chunker", "tts", "lipsync", "encoder", "assembler", "avatars", "webhooks")
HEARTBEAT_MISSES = 3


class WorkerHeartbeat(Message):
    """What one worker process says about itself."""

    worker_id: str = Field(min_length=1, max_length=256,
                           description="host:pid:random, one per process")
    host: str
    pid: int
    stages: list[str]
    partitions: dict[str, list[int]] = Field(
        default_factory=dict, description="topic -> partitions assigned to this worker now")
    jobs: dict[str, list[str]] = Field(
        default_factory=dict,
        description="stage -> job ids whose records it took lately, newest first")
    lag: dict[str, int] = Field(
        default_factory=dict,
        description="stage -> records on its assigned input partitions not yet committed")
    interval_s: float = Field(gt=0, description="seconds between heartbeats")
    at: float = Field(description="unix seconds")
    started_at: float = Field(description="unix seconds")
    gone: bool = Field(False, description="the last heartbeat of a worker that stopped cleanly")

    def live(self, now: float) -> bool:
        return not self.gone and now - self.at < HEARTBEAT_MISSES * self.interval_s
