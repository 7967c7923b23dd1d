"""Records between stages: sentences -> audio chunks -> frame chunks -> segments.

Binary payloads (PCM, pixels, MP4 bytes) are the record value; these models
travel in the `meta` header. Every record carries (job_id, seq) so a stage can
drop a redelivered duplicate.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from schemas.base import AVATAR_ID_PATTERN, DEFAULT_TENANT, JOB_ID_PATTERN, Message, Priority
from schemas.options import RenderOptions


class JobRef(Message):
    job_id: str = Field(pattern=JOB_ID_PATTERN)
    avatar_id: str = Field(pattern=AVATAR_ID_PATTERN)
    voice_id: str
    options: RenderOptions = RenderOptions()
    submitted_at: float | None = None
    tenant: str = DEFAULT_TENANT
    epoch: int = Field(0, ge=0, description="a session's interrupts before this record was made: "
                       "records of an older epoch than the session's are silenced")
    priority: Priority = "live"  # batch: the stages serve its records only when no live one is due


class AudioPiece(Message):
    """A stretch of a job's own audio file, in samples on its 16 kHz timeline."""

    upload: str = Field(description="the file's name in the job's audio folder")
    start_sample: int = Field(ge=0)
    end_sample: int | None = Field(None, description="None: to the end of the file")


class Sentence(Message):
    """One piece of the script, in speaking order (JSON value)."""

    job: JobRef
    seq: int = Field(ge=0)
    count: int | None = Field(None, ge=1, description="sentences in the job; a session's are "
                              "unknown until its end, and only its last sentence has one")
    text: str
    previous_text: str | None = Field(None, description="the sentence before, for voice continuity")
    next_text: str | None = Field(None, description="the sentence after, for voice continuity")
    audio: AudioPiece | None = Field(None, description="an audio job's piece: decoded instead of spoken")
    starts_utterance: bool = Field(False, description="a session's: the first of an utterance "
                                   "(a short first chunk), as a job's sentence 0 is")
    ends_utterance: bool = Field(False, description="a session's: nothing follows soon, so its "
                                 "audio is cut to the end without waiting for the next sentence's")

    @property
    def is_last(self) -> bool:
        return self.count is not None and self.seq == self.count - 1


class AudioChunkMeta(Message):
    """Value: int16 little-endian mono PCM at sample_rate_hz: context_before_samples of the
    job's audio before the chunk, then exactly n_frames of video worth of the chunk's own
    samples, then context_after_samples after it. The context is what the lip-sync model's
    window needs to see past the chunk's edges (fewer samples at the job's start and end)."""

    job: JobRef
    seq: int = Field(ge=0, description="chunk number within the job")
    sentence_seq: int = Field(ge=0)
    frame_start: int = Field(ge=0, description="global video frame index of the first frame")
    n_frames: int = Field(ge=1)
    sample_rate_hz: int
    is_last: bool
    context_before_samples: int = Field(0, ge=0)
    context_after_samples: int = Field(0, ge=0)


class WordTiming(Message):
    text: str
    start_s: float = Field(ge=0, description="on the job's timeline")
    end_s: float = Field(ge=0)


class CaptionChunk(Message):
    """Word timings for one audio chunk (captions topic, JSON, key job_id)."""

    job_id: str = Field(pattern=JOB_ID_PATTERN)
    seq: int = Field(ge=0, description="the audio chunk's seq")
    words: list[WordTiming]


class FrameChunkMeta(Message):
    """Value: rendered patches (n_frames, h, w, 3) uint8, then the chunk's int16 PCM with its
    context as in AudioChunkMeta (context_before_samples, own samples, context_after_samples).

    Only the region the lip-sync stage changes travels; the encoder pastes it into the
    avatar's own frames, which keeps records small. The audio context lets the encoder make
    this chunk's segment on its own (AAC pre-roll), so any worker can encode any chunk.
    """

    job: JobRef
    seq: int = Field(ge=0)
    frame_start: int = Field(ge=0)
    n_frames: int = Field(ge=1)
    box: tuple[int, int, int, int] = Field(description="x0, y0, x1, y1 of the patches in the frame")
    patch_bytes: int = Field(ge=0)
    sample_rate_hz: int
    is_last: bool
    context_before_samples: int = Field(0, ge=0)
    context_after_samples: int = Field(0, ge=0)


class SegmentMeta(Message):
    """Value: an MP4 init segment (ftyp+moov), a media segment (moof+mdat), or empty for the end marker."""

    job_id: str = Field(pattern=JOB_ID_PATTERN)
    kind: Literal["init", "media", "end"]
    seq: int = Field(ge=0, description="media segment number; 0 for the init segment")
    start_s: float = 0.0
    duration_s: float = 0.0
    is_last: bool = False
    total: int | None = Field(None, description="media segments in the job, on the last one")
    mime: str | None = Field(None, description="MSE type with codecs, on the init segment")
    submitted_at: float | None = None
    avatar_id: str | None = Field(None, description="on the end marker, so the job's last status keeps it")
    voice_id: str | None = Field(None, description="on the end marker, likewise")
    tenant: str | None = Field(None, description="on the end marker, likewise")


class DeadLetterMeta(Message):
    """Value: the unreadable record's bytes, unchanged."""

    source_topic: str
    partition: int
    offset: int
    stage: str
    reason: str


class HeldChunk(Message):
    """An audio chunk already numbered but waiting for the audio after it (its context)."""

    seq: int
    sentence_seq: int
    frame_start: int
    n_frames: int


class TtsCursor(Message):
    """Where a job's audio stands after a sentence; kept in a Faust table (changelog in Kafka).

    Keyed by the sentence it describes, so a redelivered sentence reuses its own
    numbering instead of advancing it: the tts stage stays idempotent. ``prior`` is
    the cursor before that sentence, which a redelivery starts from again. The carry
    is the tail of the job's audio that later chunks need: history for their context
    before, and the own samples of held chunks.
    """

    sentence_seq: int
    chunk_start: int
    frame_start: int
    chunk_end: int
    frame_end: int
    carry_start_sample: int = 0
    carry_pcm_b64: str = Field("", description="int16 little-endian mono PCM, base64")
    held: list[HeldChunk] = Field(default_factory=list)
    prior: TtsCursor | None = None
