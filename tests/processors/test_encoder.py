"""The encoder stage: frame records checked and composed on the avatar, a job's chunks encoded
into one H.264 + AAC stream, and the segment records and end marker made from it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.avatars.avatar import Avatar
from models.avatars.sample import sample_avatar
from models.media.assemble import remux_to_mp4
from processors.avatar_cache import AvatarCache
from processors.encoder import (
    JobStreams,
    compose_chunk,
    encode_chunk,
    end_marker,
    frame_chunk_meta,
    segment_records,
)
from processors.settings import LipsyncSettings
from schemas.options import RenderOptions
from schemas.pipeline import FrameChunkMeta, JobRef

SPF = 640
BOX = (200, 260, 296, 340)  # x0, y0, x1, y1 inside the 512 x 512 sample avatar
JOB = JobRef(job_id="j1", avatar_id="astro", voice_id="piper:joe",
             options=RenderOptions(fps=25), submitted_at=3.0)


@pytest.fixture(scope="module")
def avatar() -> Avatar:
    return sample_avatar()


def chunk(seq: int, frame_start: int, n_frames: int, is_last: bool = False,
          job: JobRef = JOB, seed: int = 0) -> tuple[FrameChunkMeta, bytes]:
    """A frames record as the lipsync stage writes it: patches then the chunk's PCM."""
    rng = np.random.default_rng(seed + seq)
    x0, y0, x1, y1 = BOX
    patches = rng.integers(0, 256, (n_frames, y1 - y0, x1 - x0, 3), dtype=np.uint8)
    t = np.arange(n_frames * SPF) / 16000
    pcm = (6000 * np.sin(2 * np.pi * 220 * t)).astype("<i2")
    meta = FrameChunkMeta(job=job, seq=seq, frame_start=frame_start, n_frames=n_frames, box=BOX,
                          patch_bytes=patches.nbytes, sample_rate_hz=16000, is_last=is_last)
    return meta, patches.tobytes() + pcm.tobytes()


def test_a_frame_record_must_hold_its_patches_and_audio_exactly() -> None:
    meta, value = chunk(0, 0, 5)
    assert frame_chunk_meta(meta.to_headers(), value) == meta
    for wrong in (value[:-2], value + b"\x00\x00"):
        expected = f"frame chunk is {len(wrong)} bytes, expected {len(value)}"
        with pytest.raises(ValueError, match=expected):
            frame_chunk_meta(meta.to_headers(), wrong)


def test_compose_chunk_pastes_the_patches_onto_the_avatar(avatar: Avatar) -> None:
    meta, value = chunk(0, 7, 4)
    frames, audio = compose_chunk(avatar, meta, value)
    x0, y0, x1, y1 = BOX
    patches = np.frombuffer(value[:meta.patch_bytes], np.uint8).reshape(4, y1 - y0, x1 - x0, 3)
    assert frames.shape == (4, 512, 512, 3) and np.array_equal(frames[:, y0:y1, x0:x1], patches)
    outside = frames.copy()
    outside[:, y0:y1, x0:x1] = avatar.frames[0, y0:y1, x0:x1]
    assert np.array_equal(outside, np.repeat(avatar.frames[:1], 4, axis=0))
    assert np.array_equal(audio, np.frombuffer(value[meta.patch_bytes:], "<i2"))
    outside_box = meta.model_copy(update={"box": (400, 400, 600, 480)})
    with pytest.raises(ValueError, match="outside the 512x512 avatar"):
        compose_chunk(avatar, outside_box, value)


def test_a_jobs_chunks_encode_into_one_playable_stream(avatar: Avatar, tmp_path: Path) -> None:
    loads: list[str] = []

    def load(avatar_id: str) -> Avatar:
        loads.append(avatar_id)
        return avatar

    avatars: AvatarCache[Avatar] = AvatarCache(load, lambda a: a)
    streams = JobStreams()
    sizes = [10, 25, 7]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    segments = []
    for seq, n in enumerate(sizes):
        meta, value = chunk(seq, int(starts[seq]), n, is_last=seq == len(sizes) - 1)
        segments += encode_chunk(avatars, LipsyncSettings(), streams, meta, value)
    assert list(streams.open) == ["j1"] and loads == ["astro"]  # one encoder, one avatar load
    encoder = streams.open["j1"].encoder
    assert encoder.init_segment is not None and encoder.mime_codecs is not None

    records = segment_records(JOB, segments)
    assert [r.meta.seq for r in records] == list(range(len(records))) and len(records) == 3
    kinds = {(r.meta.kind, r.meta.job_id, r.meta.submitted_at) for r in records}
    assert kinds == {("media", "j1", 3.0)}
    assert sum(r.meta.duration_s for r in records) == pytest.approx(sum(sizes) / 25)
    end = end_marker(JOB, len(records), sum(sizes))
    assert (end.kind, end.seq, end.total, end.is_last) == ("end", 3, 3, True)
    assert end.duration_s == pytest.approx(42 / 25)
    assert (end.avatar_id, end.voice_id) == ("astro", "piper:joe")

    info = remux_to_mp4(encoder.init_segment, [r.value for r in records], tmp_path / "job.mp4")
    assert info.video_frames == sum(sizes) and (info.width, info.height) == (512, 512)
    assert abs(info.audio_duration_s - info.video_duration_s) <= 1 / 25 + 1e-6


def test_a_stopped_jobs_encoder_is_closed_and_the_others_go_on(avatar: Avatar) -> None:
    avatars: AvatarCache[Avatar] = AvatarCache(lambda _i: avatar, lambda a: a)
    streams = JobStreams()
    other = JOB.model_copy(update={"job_id": "j2"})
    for job in (JOB, other):
        encode_chunk(avatars, LipsyncSettings(), streams, *chunk(0, 0, 10, job=job))
    stopped = streams.open["j1"].encoder
    streams.stopped.add("j1")
    streams.free_stopped()
    assert list(streams.open) == ["j2"] and not streams.stopped
    assert stopped.finish() == []  # closed: nothing more comes out of it
    assert streams.open["j2"].encoder.finish() != []
