"""frame chunks -> segments: each chunk encoded on its own into one H.264 + AAC media segment.

The stage keeps no state across records: a chunk carries its audio context, so its segment
(keyframe first, AAC pre-rolled from the audio before it) is made from the record alone and
is the same bytes whichever worker makes it, however often. Segment numbers are chunk
numbers; the first chunk also sends the job's init segment and the last one the end marker.
A redelivered or reordered chunk therefore just makes a duplicate that the assembler and
the gateway drop by (job_id, kind, seq).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import faust
import numpy as np

from models.avatars.avatar import Avatar
from models.lipsync.render import compose
from models.media.encode import ChunkSegment, EncodeSettings, encode_chunk
from models.media.frame_size import output_size, scale_frames
from processors.avatar_cache import AvatarCache
from processors.context import HeaderRecord, StageContext, superseded
from processors.settings import LipsyncSettings
from schemas.pipeline import FrameChunkMeta, SegmentMeta
from schemas.status import JobState

STAGE = "encoder"
log = logging.getLogger(__name__)


def frame_chunk_meta(headers: Any, value: bytes) -> FrameChunkMeta:
    """The record's meta, checked against its value: patch bytes then the PCM with context."""
    meta = FrameChunkMeta.from_headers(headers)
    samples = (meta.context_before_samples + meta.context_after_samples
               + meta.n_frames * meta.sample_rate_hz // meta.job.options.fps)
    if len(value) != meta.patch_bytes + 2 * samples:
        raise ValueError(f"frame chunk is {len(value)} bytes, "
                         f"expected {meta.patch_bytes + 2 * samples}")
    return meta


def compose_chunk(avatar: Avatar, meta: FrameChunkMeta,
                  payload: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Full frames (n_frames, H, W, 3) uint8 and the chunk's int16 PCM with its context."""
    x0, y0, x1, y1 = meta.box
    if not (0 <= x0 < x1 <= avatar.width and 0 <= y0 < y1 <= avatar.height):
        raise ValueError(f"patch box {meta.box} is outside the "
                         f"{avatar.width}x{avatar.height} avatar")
    patches = np.frombuffer(payload[:meta.patch_bytes], dtype=np.uint8)
    patches = patches.reshape(meta.n_frames, y1 - y0, x1 - x0, 3)
    audio = np.frombuffer(payload[meta.patch_bytes:], dtype="<i2")
    return compose(avatar, meta.frame_start, meta.box, patches), audio


def encode_frames(avatars: AvatarCache[Avatar], video: LipsyncSettings, meta: FrameChunkMeta,
                  payload: bytes, silent: bool = False) -> ChunkSegment:
    """In the CPU pool: the chunk composed, scaled to the output size and encoded. A
    `silent` (interrupted) chunk is the avatar's own frames and silence, whatever it held."""
    avatar = avatars.get(meta.job.avatar_id)
    frames, audio = compose_chunk(avatar, meta, payload)
    if silent:
        frames = avatar.frames[[avatar.frame_index(meta.frame_start + i) for i in range(meta.n_frames)]]
        audio = np.zeros_like(audio)
    _n, h, w, _c = frames.shape
    size = output_size(w, h, video.video_max_side)
    settings = EncodeSettings(width=size[0], height=size[1], fps=meta.job.options.fps,
                              sample_rate_hz=meta.sample_rate_hz, crf=video.video_crf,
                              preset=video.video_preset)
    return encode_chunk(settings, scale_frames(frames, size), meta.frame_start, audio,
                        meta.context_before_samples, meta.context_after_samples, meta.is_last,
                        meta.seq)


def segment_records(meta: FrameChunkMeta, segment: ChunkSegment) -> list[HeaderRecord[SegmentMeta]]:
    """What one chunk sends: the init segment (first chunk), its media segment, the end
    marker (last chunk; its total and duration follow from the chunk numbers)."""
    job = meta.job
    out: list[HeaderRecord[SegmentMeta]] = []
    if meta.seq == 0:
        out.append(HeaderRecord(SegmentMeta(job_id=job.job_id, kind="init", seq=0, mime=segment.mime,
                                            submitted_at=job.submitted_at), segment.init))
    out.append(HeaderRecord(SegmentMeta(job_id=job.job_id, kind="media", seq=meta.seq,
                                        start_s=segment.start_s, duration_s=segment.duration_s,
                                        submitted_at=job.submitted_at), segment.media))
    if meta.is_last:
        total = meta.seq + 1
        out.append(HeaderRecord(SegmentMeta(
            job_id=job.job_id, kind="end", seq=total, total=total,
            duration_s=(meta.frame_start + meta.n_frames) / job.options.fps, is_last=True,
            submitted_at=job.submitted_at, avatar_id=job.avatar_id, voice_id=job.voice_id,
            tenant=job.tenant), b""))
    return out


def _parse(event: faust.EventT) -> tuple[FrameChunkMeta, bytes]:
    return frame_chunk_meta(event.headers, event.value), event.value


def _position_s(record: tuple[FrameChunkMeta, bytes]) -> float:
    meta = record[0]
    return meta.frame_start / meta.job.options.fps


async def encoder(ctx: StageContext, stream: faust.StreamT) -> None:
    # served by deadline across jobs (processors/schedule.py), not in arrival order
    records = ctx.scheduled(stream, STAGE, _parse, _position_s, job_of=lambda chunk: chunk[0].job)
    async for [(_event, (meta, payload))] in records:
        job_id = meta.job.job_id
        try:
            segment = await ctx.run_cpu(encode_frames, ctx.avatars, ctx.settings.lipsync, meta,
                                        payload, superseded(ctx, meta.job))
            for record in segment_records(meta, segment):
                await ctx.send(ctx.topics.segments, job_id, record)
            await ctx.account(job_id, STAGE, meta.seq, video_s=segment.duration_s)
        except Exception as exc:  # noqa: BLE001 - whatever broke, this job fails, the stage goes on
            await ctx.fail(job_id, STAGE, exc, tenant=meta.job.tenant)
            continue
        if meta.is_last:
            await ctx.report(job_id, STAGE, JobState.RUNNING, segments=meta.seq + 1, tenant=meta.job.tenant,
                             message="all segments encoded")


def register(ctx: StageContext) -> None:
    ctx.app.agent(ctx.topics.frames, name=STAGE)(functools.partial(encoder, ctx))
