"""audio chunks -> frame chunks: the mouth animated from each chunk's audio.

Only the region the animator changes travels on (patches), with the chunk's PCM,
so the encoder can paste it into the avatar's own frames.
"""

from __future__ import annotations

import faust
import numpy as np

from processors.avatar_cache import AnimatorCache
from processors.context import StageContext
from schemas.pipeline import AudioChunkMeta, FrameChunkMeta
from schemas.status import JobState

STAGE = "lipsync"


def _render(cache: AnimatorCache, meta: AudioChunkMeta, pcm: bytes) -> tuple[tuple[int, int, int, int], bytes]:
    animator = cache.get(meta.job.avatar_id)
    audio = np.frombuffer(pcm, dtype="<i2")
    openness = animator.openness(audio, meta.n_frames)
    patches = animator.render(meta.frame_start, openness)
    return animator.patch_box, np.ascontiguousarray(patches, dtype=np.uint8).tobytes()


def register(ctx: StageContext) -> None:
    cache = AnimatorCache(ctx.store)

    def parse(event: faust.EventT) -> tuple[AudioChunkMeta, bytes]:
        meta = AudioChunkMeta.from_headers(event.headers)
        expected = meta.n_frames * meta.sample_rate_hz // meta.job.options.fps * 2
        if len(event.value) != expected:
            raise ValueError(f"audio payload is {len(event.value)} bytes, expected {expected}")
        return meta, event.value

    async def lipsync(stream: faust.StreamT) -> None:
        async for _event, (meta, pcm) in ctx.records(stream, STAGE, parse):
            job_id = meta.job.job_id
            try:
                box, patches = await ctx.run_cpu(_render, cache, meta, pcm)
            except Exception as exc:
                await ctx.fail(job_id, STAGE, exc)
                continue
            out = FrameChunkMeta(job=meta.job, seq=meta.seq, frame_start=meta.frame_start,
                                 n_frames=meta.n_frames, box=box, patch_bytes=len(patches),
                                 sample_rate_hz=meta.sample_rate_hz, is_last=meta.is_last)
            await ctx.topics.frames.send(key=job_id.encode(), value=patches + pcm, headers=out.to_headers())
            if meta.seq == 0:
                await ctx.report(job_id, STAGE, JobState.RUNNING, message="first frames rendered")

    ctx.app.agent(ctx.topics.audio, name=STAGE)(lipsync)
