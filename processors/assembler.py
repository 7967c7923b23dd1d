"""segments -> final MP4: store every segment, remux them once the end marker and all its
segments are in, in whatever order and however often they came.

Segments are written to the media store by (job_id, kind, seq), so a redelivered record
overwrites nothing and the final file never holds a segment twice. The end marker may come
before some of its media segments (chunks are encoded by any worker, in any order): it is
then kept in the `assembler-ends` table (job_id -> AssemblyState JSON, raw bytes, changelog
in Kafka) and the job is assembled on the segment that completes it. A job assembled and
reported is marked so in the same table: its repeated records do nothing, so it never
reports anything but `completed`.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import faust

from core.store import MediaStore
from models.media.assemble import MediaInfo, remux_to_mp4
from processors.context import StageContext
from schemas.assembly import AssemblyState
from schemas.pipeline import SegmentMeta
from schemas.status import JobState

STAGE = "assembler"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """What one record does: store its segment, and the job's end marker known after it."""

    store: bool
    end: SegmentMeta | None


@dataclass(frozen=True)
class Stored:
    """Which of a job's segments the media store holds."""

    init: bool
    media: frozenset[int]


def plan_record(meta: SegmentMeta, state: AssemblyState | None) -> Step | None:
    """None when the job is assembled already; raises ValueError for an end marker without a
    count, or one whose count differs from the end marker kept before (the job is broken)."""
    if state is not None and state.assembled:
        return None
    pending = None if state is None else state.end
    if meta.kind != "end":
        return Step(store=True, end=pending)
    if meta.total is None or meta.total < 1:
        raise ValueError("end marker without a segment count")
    if pending is not None and pending.total != meta.total:
        raise ValueError(f"end markers disagree: {pending.total} and {meta.total} segments")
    return Step(store=False, end=meta if pending is None else pending)


def missing_segments(total: int, stored: Stored) -> list[str]:
    """The segments a job of `total` media segments still lacks, by name; empty when ready."""
    return (([] if stored.init else ["init"])
            + [f"media {seq}" for seq in range(total) if seq not in stored.media])


def stored_segments(store: MediaStore, job_id: str, total: int) -> Stored:
    return Stored(init=store.segment_path(job_id, "init", 0).exists(),
                  media=frozenset(seq for seq in range(total)
                                  if store.segment_path(job_id, "media", seq).exists()))


def assemble(store: MediaStore, end: SegmentMeta) -> MediaInfo:
    """The job's stored init and media segments remuxed into its final MP4."""
    assert end.total is not None  # plan_record checked it
    init, media = store.read_segments(end.job_id, end.total)
    return remux_to_mp4(init, media, store.final_path(end.job_id))


def _parse(event: faust.EventT) -> tuple[SegmentMeta, bytes]:
    return SegmentMeta.from_headers(event.headers), event.value


async def assembler(ctx: StageContext, ends: faust.Table, stream: faust.StreamT) -> None:
    async for _event, (meta, data) in ctx.records(stream, STAGE, _parse):
        key = meta.job_id.encode()
        raw = ends.get(key)
        state = AssemblyState.from_json(raw) if raw else None
        try:
            step = plan_record(meta, state)
            if step is None:
                log.info("job %s is assembled; %s %d ignored", meta.job_id, meta.kind, meta.seq)
                continue
            if step.store:
                await ctx.run_cpu(ctx.store.write_segment_record, meta, data)
            end = step.end
            if end is None or end.total is None:
                continue
            stored = await ctx.run_cpu(stored_segments, ctx.store, meta.job_id, end.total)
            missing = missing_segments(end.total, stored)
            if missing:
                if state is None:  # the first end marker: keep it until the rest is stored
                    ends[key] = AssemblyState(end=end).to_json()
                    log.info("job %s ends before %s are stored; waiting", meta.job_id,
                             ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""))
                continue
            info = await ctx.run_cpu(assemble, ctx.store, end)
        except Exception as exc:  # noqa: BLE001 - whatever broke, this job fails, the stage goes on
            await ctx.fail(meta.job_id, STAGE, exc)
            continue
        await ctx.report(meta.job_id, STAGE, JobState.COMPLETED, progress=1.0, segments=end.total,
                         video_duration_s=round(info.video_duration_s, 4),
                         audio_duration_s=round(info.audio_duration_s, 4),
                         created_at=end.submitted_at, avatar_id=end.avatar_id,
                         voice_id=end.voice_id, message="final MP4 ready", tenant=end.tenant)
        await ctx.account(meta.job_id, STAGE, "final")
        await ctx.app.producer.flush()  # `completed` is in Kafka before the job is marked done
        try:
            ends[key] = AssemblyState(end=end, assembled=True).to_json()
        except Exception:  # the job is done; a repeat of it would remux it again
            log.exception("job %s: could not mark it assembled", meta.job_id)


def register(ctx: StageContext) -> None:
    # bytes in, bytes out: the changelog holds exactly what was written (job_id keys aren't JSON)
    ends = ctx.app.Table("assembler-ends", default=None, partitions=ctx.settings.kafka.partitions,
                         key_type=bytes, value_type=bytes)
    ctx.app.agent(ctx.topics.segments, name=STAGE)(functools.partial(assembler, ctx, ends))
