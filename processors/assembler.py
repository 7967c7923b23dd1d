"""segments -> final MP4: store every segment, remux them once the end marker arrives.

Segments are written to the media store by (job_id, kind, seq), so a redelivered
record overwrites nothing and the final file never holds a segment twice.
"""

from __future__ import annotations

import functools
from typing import Literal

import faust

from core.store import MediaStore
from models.media.assemble import MediaInfo, remux_to_mp4
from processors.context import StageContext
from schemas.pipeline import SegmentMeta
from schemas.status import JobState

STAGE = "assembler"


def segment_action(meta: SegmentMeta) -> Literal["store", "assemble"]:
    """An init or media segment is stored; the end marker, with its count, assembles the job."""
    if meta.kind != "end":
        return "store"
    if meta.total is None or meta.total < 1:
        raise ValueError("end marker without a segment count")
    return "assemble"


def assemble(store: MediaStore, end: SegmentMeta) -> MediaInfo:
    """The job's stored init and media segments remuxed into its final MP4."""
    assert end.total is not None  # segment_action checked it
    init, media = store.read_segments(end.job_id, end.total)
    return remux_to_mp4(init, media, store.final_path(end.job_id))


def _parse(event: faust.EventT) -> tuple[SegmentMeta, bytes]:
    return SegmentMeta.from_headers(event.headers), event.value


async def assembler(ctx: StageContext, stream: faust.StreamT) -> None:
    async for _event, (meta, data) in ctx.records(stream, STAGE, _parse):
        try:
            if segment_action(meta) == "store":
                await ctx.run_cpu(ctx.store.write_segment_record, meta, data)
                continue
            info = await ctx.run_cpu(assemble, ctx.store, meta)
        except Exception as exc:  # noqa: BLE001 - whatever broke, this job fails, the stage goes on
            await ctx.fail(meta.job_id, STAGE, exc)
            continue
        await ctx.report(meta.job_id, STAGE, JobState.COMPLETED, progress=1.0, segments=meta.total,
                         video_duration_s=round(info.video_duration_s, 4),
                         audio_duration_s=round(info.audio_duration_s, 4),
                         created_at=meta.submitted_at, avatar_id=meta.avatar_id,
                         voice_id=meta.voice_id, message="final MP4 ready")


def register(ctx: StageContext) -> None:
    ctx.app.agent(ctx.topics.segments, name=STAGE)(functools.partial(assembler, ctx))
