"""Per-job render options, carried with the job through every stage."""

from __future__ import annotations

from pydantic import Field, field_validator

from schemas.base import Message

AUDIO_SAMPLE_RATE_HZ = 16000


class RenderOptions(Message):
    fps: int = Field(25, ge=10, le=50, description=f"video frames per second; must divide {AUDIO_SAMPLE_RATE_HZ}")
    first_chunk_frames: int = Field(10, ge=1, le=250, description="the first chunk is short to cut time to first video")
    chunk_frames: int = Field(25, ge=5, le=250, description="frames per audio chunk / media segment after the first")

    @field_validator("fps")
    @classmethod
    def _divides_rate(cls, fps: int) -> int:
        if AUDIO_SAMPLE_RATE_HZ % fps:
            raise ValueError(f"fps must divide {AUDIO_SAMPLE_RATE_HZ} (e.g. 20, 25, 32, 40, 50)")
        return fps
