"""frame chunks -> segments: H.264 + AAC fragmented MP4, one encoder per job.

The encoder keeps codec state across a job's chunks so audio stays continuous;
that state lives in this process (a job's records all land on one partition,
so one worker sees them in order). Segment numbers come from the encoder, and a
redelivered chunk (seq already encoded) is dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import faust
import numpy as np

from models.avatars.avatar import Avatar
from models.lipsync.render import compose
from models.media.encode import (
    EncodedSegment,
    EncodeSettings,
    SegmentEncoder,
    output_size,
    scale_frames,
)
from processors.avatar_cache import AvatarCache, store_loader
from processors.context import StageContext
from schemas.pipeline import FrameChunkMeta, SegmentMeta
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


def _frames(cache: AvatarCache[Avatar], meta: FrameChunkMeta, payload: bytes) -> tuple[np.ndarray, np.ndarray]:
    avatar = cache.get(meta.job.avatar_id)
    x0, y0, x1, y1 = meta.box
    if not (0 <= x0 < x1 <= avatar.width and 0 <= y0 < y1 <= avatar.height):
        raise ValueError(f"patch box {meta.box} is outside the {avatar.width}x{avatar.height} avatar")
    patches = np.frombuffer(payload[:meta.patch_bytes], dtype=np.uint8)
    patches = patches.reshape(meta.n_frames, y1 - y0, x1 - x0, 3)
    audio = np.frombuffer(payload[meta.patch_bytes:], dtype="<i2")
    return compose(avatar, meta.frame_start, meta.box, patches), audio


def register(ctx: StageContext) -> None:
    cache: AvatarCache[Avatar] = AvatarCache(store_loader(ctx.store), lambda avatar: avatar,
                                             ctx.settings.avatars.cache_size)
    video = ctx.settings.lipsync
    streams: dict[str, _JobStream] = {}
    stopped: set[str] = set()
    ctx.control.on_stop(stopped.add)  # freed by the agent itself, never under a running encode

    def free_stopped() -> None:
        while stopped:
            gone = streams.pop(stopped.pop(), None)
            if gone is not None:
                gone.encoder.close()

    def parse(event: faust.EventT) -> tuple[FrameChunkMeta, bytes]:
        meta = FrameChunkMeta.from_headers(event.headers)
        audio_bytes = meta.n_frames * meta.sample_rate_hz // meta.job.options.fps * 2
        if len(event.value) != meta.patch_bytes + audio_bytes:
            raise ValueError(f"frame chunk is {len(event.value)} bytes, expected {meta.patch_bytes + audio_bytes}")
        return meta, event.value

    def encode(meta: FrameChunkMeta, payload: bytes) -> list[EncodedSegment]:
        job_id = meta.job.job_id
        frames, audio = _frames(cache, meta, payload)
        state = streams.get(job_id)
        _n, h, w, _c = frames.shape
        size = output_size(w, h, video.video_max_side)
        if state is None:
            settings = EncodeSettings(width=size[0], height=size[1], fps=meta.job.options.fps,
                                      sample_rate_hz=meta.sample_rate_hz, crf=video.video_crf,
                                      preset=video.video_preset)
            state = streams[job_id] = _JobStream(SegmentEncoder(settings))
        out = state.encoder.add_chunk(scale_frames(frames, size), audio)
        if meta.is_last:
            out += state.encoder.finish()
        return out

    async def send(meta: FrameChunkMeta, state: _JobStream, segments: list[EncodedSegment]) -> None:
        job = meta.job
        key = job.job_id.encode()
        if not state.init_sent and state.encoder.init_segment is not None:
            init = SegmentMeta(job_id=job.job_id, kind="init", seq=0, mime=state.encoder.mime_codecs,
                               submitted_at=job.submitted_at)
            await ctx.topics.segments.send(key=key, value=state.encoder.init_segment, headers=init.to_headers())
            state.init_sent = True
        for seg in segments:
            media = SegmentMeta(job_id=job.job_id, kind="media", seq=seg.index, start_s=seg.start_s,
                                duration_s=seg.duration_s, submitted_at=job.submitted_at)
            await ctx.topics.segments.send(key=key, value=seg.data, headers=media.to_headers())
            state.segments = seg.index + 1

    async def encoder(stream: faust.StreamT) -> None:
        async for _event, (meta, payload) in ctx.records(stream, STAGE, parse):
            free_stopped()
            job_id = meta.job.job_id
            state = streams.get(job_id)
            expected = state.next_seq if state else 0
            if meta.seq < expected:
                log.info("dropping redelivered chunk %s/%d", job_id, meta.seq)
                continue
            try:
                if meta.seq != expected:
                    raise RuntimeError(f"chunk {meta.seq} arrived but the encoder expected {expected}; "
                                       "its earlier state was lost")
                segments = await ctx.run_cpu(encode, meta, payload)
                state = streams[job_id]
                state.next_seq = meta.seq + 1
                state.frames += meta.n_frames
                await send(meta, state, segments)
            except Exception as exc:
                await ctx.fail(job_id, STAGE, exc)
                free_stopped()
                continue
            if meta.is_last:
                streams.pop(job_id, None)
                end = SegmentMeta(job_id=job_id, kind="end", seq=state.segments, total=state.segments,
                                  duration_s=state.frames / meta.job.options.fps, is_last=True,
                                  submitted_at=meta.job.submitted_at, avatar_id=meta.job.avatar_id,
                                  voice_id=meta.job.voice_id)
                await ctx.topics.segments.send(key=job_id.encode(), value=b"", headers=end.to_headers())
                await ctx.report(job_id, STAGE, JobState.RUNNING, segments=state.segments,
                                 message="all segments encoded")

    ctx.app.agent(ctx.topics.frames, name=STAGE)(encoder)
