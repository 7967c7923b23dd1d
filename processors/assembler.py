"""segments -> final MP4: store every segment, remux them once the end marker arrives.

Segments are written to the media store by (job_id, kind, seq), so a redelivered
record overwrites nothing and the final file never holds a segment twice.
"""

from __future__ import annotations

import faust

from models.media.assemble import remux_to_mp4
from processors.context import StageContext
from schemas.pipeline import SegmentMeta
from schemas.status import JobState

STAGE = "assembler"


def register(ctx: StageContext) -> None:
    store = ctx.store

    def parse(event: faust.EventT) -> tuple[SegmentMeta, bytes]:
        return SegmentMeta.from_headers(event.headers), event.value

    def assemble(meta: SegmentMeta) -> tuple[float, float]:
        assert meta.total is not None
        init, media = store.read_segments(meta.job_id, meta.total)
        info = remux_to_mp4(init, media, store.final_path(meta.job_id))
        return info.video_duration_s, info.audio_duration_s

    async def assembler(stream: faust.StreamT) -> None:
        async for _event, (meta, data) in ctx.records(stream, STAGE, parse):
            try:
                if meta.kind != "end":
                    await ctx.run_cpu(store.write_segment, meta.job_id, meta.kind, meta.seq, data)
                    continue
                if meta.total is None or meta.total < 1:
                    raise ValueError("end marker without a segment count")
                video_s, audio_s = await ctx.run_cpu(assemble, meta)
            except Exception as exc:
                await ctx.fail(meta.job_id, STAGE, exc)
                continue
            await ctx.report(meta.job_id, STAGE, JobState.COMPLETED, progress=1.0, segments=meta.total,
                             video_duration_s=round(video_s, 4), audio_duration_s=round(audio_s, 4),
                             created_at=meta.submitted_at, avatar_id=meta.avatar_id, voice_id=meta.voice_id,
                             message="final MP4 ready")

    ctx.app.agent(ctx.topics.segments, name=STAGE)(assembler)
