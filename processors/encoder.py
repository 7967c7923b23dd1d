"""frame chunks -> segments: H.264 + AAC fragmented MP4, one encoder per job.

The encoder keeps codec state across a job's chunks so audio stays continuous;
that state lives in this process (a job's records all land on one partition,
so one worker sees them in order). Segment numbers come from the encoder, and a
redelivered chunk (seq already encoded) is dropped.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import Any

import faust
import numpy as np

from models.avatars.avatar import Avatar
from models.lipsync.render import compose
from models.media.encode import EncodedSegment, EncodeSettings, SegmentEncoder
from models.media.frame_size import output_size, scale_frames
from processors.avatar_cache import AvatarCache
from processors.context import HeaderRecord, StageContext
from processors.settings import LipsyncSettings
from schemas.pipeline import FrameChunkMeta, JobRef, SegmentMeta
from schemas.status import JobState

STAGE = "encoder"
log = logging.getLogger(__name__)


@dataclass
class _JobStream:
    encoder: SegmentEncoder
    next_seq: int = 0
    segments: int = 0
    init_sent: bool = False
    frames: int = 0


@dataclass
class JobStreams:
    """This process's open encoders by job_id, and the jobs stopped meanwhile, whose
    encoders the agent itself frees, never under a running encode."""

    open: dict[str, _JobStream] = field(default_factory=dict)
    stopped: set[str] = field(default_factory=set)

    def free_stopped(self) -> None:
        while self.stopped:
            gone = self.open.pop(self.stopped.pop(), None)
            if gone is not None:
                gone.encoder.close()


def frame_chunk_meta(headers: Any, value: bytes) -> FrameChunkMeta:
    """The record's meta, checked against its value: patch bytes then the chunk's PCM."""
    meta = FrameChunkMeta.from_headers(headers)
    audio_bytes = meta.n_frames * meta.sample_rate_hz // meta.job.options.fps * 2
    if len(value) != meta.patch_bytes + audio_bytes:
        raise ValueError(f"frame chunk is {len(value)} bytes, "
                         f"expected {meta.patch_bytes + audio_bytes}")
    return meta


def compose_chunk(avatar: Avatar, meta: FrameChunkMeta,
                  payload: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Full frames (n_frames, H, W, 3) uint8 and the chunk's int16 PCM."""
    x0, y0, x1, y1 = meta.box
    if not (0 <= x0 < x1 <= avatar.width and 0 <= y0 < y1 <= avatar.height):
        raise ValueError(f"patch box {meta.box} is outside the "
                         f"{avatar.width}x{avatar.height} avatar")
    patches = np.frombuffer(payload[:meta.patch_bytes], dtype=np.uint8)
    patches = patches.reshape(meta.n_frames, y1 - y0, x1 - x0, 3)
    audio = np.frombuffer(payload[meta.patch_bytes:], dtype="<i2")
    return compose(avatar, meta.frame_start, meta.box, patches), audio


def segment_records(job: JobRef, segments: list[EncodedSegment]) -> list[HeaderRecord[SegmentMeta]]:
    return [HeaderRecord(SegmentMeta(job_id=job.job_id, kind="media", seq=seg.index,
                                     start_s=seg.start_s, duration_s=seg.duration_s,
                                     submitted_at=job.submitted_at), seg.data)
            for seg in segments]


def end_marker(job: JobRef, segments: int, frames: int) -> SegmentMeta:
    return SegmentMeta(job_id=job.job_id, kind="end", seq=segments, total=segments,
                       duration_s=frames / job.options.fps, is_last=True,
                       submitted_at=job.submitted_at, avatar_id=job.avatar_id,
                       voice_id=job.voice_id)


def encode_chunk(avatars: AvatarCache[Avatar], video: LipsyncSettings, streams: JobStreams,
            meta: FrameChunkMeta, payload: bytes) -> list[EncodedSegment]:
    """In the CPU pool: the chunk composed and encoded, its job's encoder opened on the first."""
    job_id = meta.job.job_id
    frames, audio = compose_chunk(avatars.get(meta.job.avatar_id), meta, payload)
    state = streams.open.get(job_id)
    _n, h, w, _c = frames.shape
    size = output_size(w, h, video.video_max_side)
    if state is None:
        settings = EncodeSettings(width=size[0], height=size[1], fps=meta.job.options.fps,
                                  sample_rate_hz=meta.sample_rate_hz, crf=video.video_crf,
                                  preset=video.video_preset)
        state = streams.open[job_id] = _JobStream(SegmentEncoder(settings))
    out = state.encoder.add_chunk(scale_frames(frames, size), audio)
    if meta.is_last:
        out += state.encoder.finish()
    return out


async def _send(ctx: StageContext, job: JobRef, state: _JobStream,
                segments: list[EncodedSegment]) -> None:
    init = state.encoder.init_segment
    if not state.init_sent and init is not None:
        meta = SegmentMeta(job_id=job.job_id, kind="init", seq=0, mime=state.encoder.mime_codecs,
                           submitted_at=job.submitted_at)
        await ctx.send(ctx.topics.segments, job.job_id, HeaderRecord(meta, init))
        state.init_sent = True
    for record in segment_records(job, segments):
        await ctx.send(ctx.topics.segments, job.job_id, record)
        state.segments = record.meta.seq + 1


def _parse(event: faust.EventT) -> tuple[FrameChunkMeta, bytes]:
    return frame_chunk_meta(event.headers, event.value), event.value


async def encoder(ctx: StageContext, streams: JobStreams, stream: faust.StreamT) -> None:
    async for _event, (meta, payload) in ctx.records(stream, STAGE, _parse):
        streams.free_stopped()
        job = meta.job
        state = streams.open.get(job.job_id)
        expected = state.next_seq if state else 0
        if meta.seq < expected:
            log.info("dropping redelivered chunk %s/%d", job.job_id, meta.seq)
            continue
        try:
            if meta.seq != expected:
                raise RuntimeError(f"chunk {meta.seq} arrived but the encoder expected {expected}; "
                                   "its earlier state was lost")
            segments = await ctx.run_cpu(encode_chunk, ctx.avatars, ctx.settings.lipsync, streams,
                                         meta, payload)
            state = streams.open[job.job_id]
            state.next_seq = meta.seq + 1
            state.frames += meta.n_frames
            await _send(ctx, job, state, segments)
        except Exception as exc:  # noqa: BLE001 - whatever broke, this job fails, the stage goes on
            await ctx.fail(job.job_id, STAGE, exc)
            streams.free_stopped()
            continue
        if meta.is_last:
            streams.open.pop(job.job_id, None)
            end = end_marker(job, state.segments, state.frames)
            await ctx.send(ctx.topics.segments, job.job_id, HeaderRecord(end, b""))
            await ctx.report(job.job_id, STAGE, JobState.RUNNING, segments=state.segments,
                             message="all segments encoded")


def register(ctx: StageContext) -> None:
    streams = JobStreams()
    ctx.control.on_stop(streams.stopped.add)
    ctx.app.agent(ctx.topics.frames, name=STAGE)(functools.partial(encoder, ctx, streams))
