"""The assembler stage: what each segment record does given the job's kept state and stored
segments, the final MP4 it remuxes from a real encode, and its agent loop over records in a
shuffled order with repeats."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from core.store import MediaStore
from models.media.assemble import probe
from models.media.encode import ChunkSegment, EncodeSettings, encode_chunk
from processors.assembler import (
    Step,
    Stored,
    assemble,
    assembler,
    missing_segments,
    plan_record,
    stored_segments,
)
from schemas.assembly import AssemblyState
from schemas.pipeline import SegmentMeta
from schemas.status import JobState
from tests.processors.stage_fake import FakeContext, FakeRecord

FPS, SR = 25, 16000
SPF = SR // FPS
CHUNKS = (10, 25, 25, 3)
END = SegmentMeta(job_id="j1", kind="end", seq=4, total=4, avatar_id="astro", voice_id="piper:joe")


def media(seq: int) -> SegmentMeta:
    return SegmentMeta(job_id="j1", kind="media", seq=seq)


def test_segments_are_stored_and_the_end_marker_decides() -> None:
    init = SegmentMeta(job_id="j1", kind="init", seq=0)
    assert plan_record(init, None) == Step(store=True, end=None)
    assert plan_record(media(2), None) == Step(store=True, end=None)
    assert plan_record(END, None) == Step(store=False, end=END)
    pending = AssemblyState(end=END)
    assert plan_record(media(2), pending) == Step(store=True, end=END)  # check the job again
    again = END.model_copy(update={"duration_s": 9.0})
    assert plan_record(again, pending) == Step(store=False, end=END)  # the kept one stands


def test_an_assembled_job_ignores_every_record() -> None:
    done = AssemblyState(end=END, assembled=True)
    for meta in (SegmentMeta(job_id="j1", kind="init", seq=0), media(0), media(7), END,
                 END.model_copy(update={"total": 9})):
        assert plan_record(meta, done) is None


def test_bad_end_markers_are_refused() -> None:
    for total in (None, 0):
        with pytest.raises(ValueError, match="end marker without a segment count"):
            plan_record(SegmentMeta(job_id="j1", kind="end", seq=0, total=total), None)
    with pytest.raises(ValueError, match="end markers disagree: 4 and 5"):
        plan_record(END.model_copy(update={"total": 5}), AssemblyState(end=END))


def test_missing_segments_name_what_the_job_lacks() -> None:
    assert missing_segments(3, Stored(init=True, media=frozenset({0, 1, 2}))) == []
    assert missing_segments(3, Stored(init=True, media=frozenset({0, 2, 5}))) == ["media 1"]
    assert missing_segments(2, Stored(init=False, media=frozenset())) == [
        "init", "media 0", "media 1"]


def _encode_job() -> list[ChunkSegment]:
    """Every chunk encoded on its own with its audio context, as the encoder stage does."""
    settings = EncodeSettings(width=64, height=48, fps=FPS, sample_rate_hz=SR)
    rng = np.random.default_rng(0)
    total = sum(CHUNKS)
    pcm = rng.integers(-3000, 3000, total * SPF, dtype=np.int16)
    out, frame = [], 0
    for seq, n in enumerate(CHUNKS):
        lo, hi = max(0, (frame - 5) * SPF), min(total, frame + n + 5) * SPF
        frames = rng.integers(0, 256, (n, 48, 64, 3), dtype=np.uint8)
        out.append(encode_chunk(settings, frames, frame, pcm[lo:hi], frame * SPF - lo,
                                hi - (frame + n) * SPF, seq == len(CHUNKS) - 1, seq))
        frame += n
    return out


@pytest.fixture(scope="module")
def job() -> list[ChunkSegment]:
    return _encode_job()


def _records(job: list[ChunkSegment]) -> list[FakeRecord]:
    """The job's segment records as the encoder sends them: init, media 0..3, end."""
    metas = [(SegmentMeta(job_id="j1", kind="init", seq=0, mime=job[0].mime), job[0].init)]
    metas += [(SegmentMeta(job_id="j1", kind="media", seq=seq, start_s=seg.start_s,
                           duration_s=seg.duration_s), seg.media) for seq, seg in enumerate(job)]
    metas.append((END, b""))
    return [FakeRecord(b"j1", data, meta.to_headers()) for meta, data in metas]


def test_assemble_remuxes_the_stored_segments(tmp_path: Path, job: list[ChunkSegment]) -> None:
    store = MediaStore(tmp_path)
    store.write_segment("j1", "init", 0, job[0].init)
    for seq, seg in reversed(list(enumerate(job))):  # the order they are stored in does not matter
        store.write_segment("j1", "media", seq, seg.media)
    assert stored_segments(store, "j1", 5) == Stored(init=True, media=frozenset({0, 1, 2, 3}))

    info = assemble(store, END)
    assert info.video_frames == sum(CHUNKS) and (info.width, info.height) == (64, 48)
    assert info.video_duration_s == pytest.approx(sum(CHUNKS) / FPS, abs=1e-6)
    assert store.final_path("j1").is_file()
    with pytest.raises(FileNotFoundError):  # a count beyond the stored segments is an error
        assemble(store, END.model_copy(update={"total": 5}))


async def _run(ctx: FakeContext, ends: dict[bytes, bytes], feed: list[FakeRecord]) -> None:
    ctx.feed = list(feed)
    await assembler(ctx, ends, None)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", range(6))
async def test_shuffled_and_repeated_records_assemble_once(tmp_path: Path, job: list[ChunkSegment],
                                                           seed: int) -> None:
    """The end marker before some of its segments, twice, segments repeated: one `completed`,
    once the last missing segment is stored; everything after it does nothing."""
    records = _records(job)
    order = records + random.Random(seed).sample(records, 4)  # four repeats
    random.Random(seed).shuffle(order)
    end_at = order.index(records[-1])
    order.insert(0, order.pop(end_at))  # the end marker first, every segment still to come
    ctx, ends = FakeContext(tmp_path), {}
    await _run(ctx, ends, order[:3])
    assert ctx.reports == [] and AssemblyState.from_json(ends[b"j1"]) == AssemblyState(end=END)

    await _run(ctx, ends, order[3:])
    assert ctx.failures == []
    assert [r.state for r in ctx.reports] == [JobState.COMPLETED]
    (done,) = ctx.reports
    assert (done.segments, done.avatar_id, done.voice_id) == (4, "astro", "piper:joe")
    assert AssemblyState.from_json(ends[b"j1"]).assembled
    assert probe(ctx.store.final_path("j1")).video_frames == sum(CHUNKS)

    before = ctx.store.final_path("j1").stat().st_mtime_ns
    await _run(ctx, ends, records + records)  # the whole job redelivered after it completed
    assert len(ctx.reports) == 1 and ctx.failures == []
    assert ctx.store.final_path("j1").stat().st_mtime_ns == before  # not remuxed again
    assert [(u.job_id, u.stage, u.part) for u in ctx.usage] == [("j1", "assembler", "final")]


async def test_the_end_marker_after_all_segments_assembles_at_once(
        tmp_path: Path, job: list[ChunkSegment]) -> None:
    ctx, ends = FakeContext(tmp_path), {}
    await _run(ctx, ends, _records(job))
    assert [r.state for r in ctx.reports] == [JobState.COMPLETED]
    assert ctx.app.producer.flushes == 1  # `completed` flushed before the job is marked done
    assert AssemblyState.from_json(ends[b"j1"]) == AssemblyState(end=END, assembled=True)


async def test_a_job_with_a_segment_that_never_comes_waits(tmp_path: Path,
                                                           job: list[ChunkSegment]) -> None:
    records = _records(job)
    ctx, ends = FakeContext(tmp_path), {}
    await _run(ctx, ends, [r for i, r in enumerate(records) if i != 2] * 2)  # media 1 is lost
    assert ctx.reports == [] and ctx.failures == []
    assert not AssemblyState.from_json(ends[b"j1"]).assembled
    assert not ctx.store.final_path("j1").exists()
    await _run(ctx, ends, [records[2]])
    assert [r.state for r in ctx.reports] == [JobState.COMPLETED]


async def test_end_markers_that_disagree_fail_the_job(tmp_path: Path,
                                                      job: list[ChunkSegment]) -> None:
    other = END.model_copy(update={"total": 6})
    ctx, ends = FakeContext(tmp_path), {}
    await _run(ctx, ends, [_records(job)[-1], FakeRecord(b"j1", b"", other.to_headers())])
    assert ctx.failures == [("j1", "assembler: ValueError: end markers disagree: 4 and 6 segments")]
    assert ctx.reports == []


class _UnwritableTable(dict[bytes, bytes]):
    """A table whose changelog cannot be written (Faust raised PartitionsMismatch so)."""

    def __setitem__(self, key: bytes, value: bytes) -> None:
        raise RuntimeError("changelog topic has 0 partitions")


async def test_a_job_that_cannot_be_marked_done_stays_completed(tmp_path: Path,
                                                                job: list[ChunkSegment]) -> None:
    ctx, ends = FakeContext(tmp_path), _UnwritableTable()
    await _run(ctx, ends, _records(job) + _records(job)[:1])  # the loop goes on after it
    assert [r.state for r in ctx.reports] == [JobState.COMPLETED] and ctx.failures == []
