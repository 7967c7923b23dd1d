"""The encoder stage: frame records checked and composed on the avatar, each chunk encoded on
its own into a media segment, and the init, media and end records made from it."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from models.avatars.avatar import Avatar
from models.avatars.sample import sample_avatar
from models.media.assemble import remux_to_mp4
from processors.avatar_cache import AvatarCache
from processors.encoder import compose_chunk, encode_frames, frame_chunk_meta, segment_records
from processors.settings import LipsyncSettings
from schemas.options import RenderOptions
from schemas.pipeline import FrameChunkMeta, JobRef

SPF = 640
BEFORE, AFTER = 3200, 4000  # the tts stage's default context, in samples
BOX = (200, 260, 296, 340)  # x0, y0, x1, y1 inside the 512 x 512 sample avatar
JOB = JobRef(job_id="j1", avatar_id="astro", voice_id="piper:joe",
             options=RenderOptions(fps=25), submitted_at=3.0)
SIZES = (10, 25, 7)


@pytest.fixture(scope="module")
def avatar() -> Avatar:
    return sample_avatar()


def job_audio(n_frames: int) -> np.ndarray:
    """A job's whole speech stand-in: a tone whose loudness moves, int16."""
    t = np.arange(n_frames * SPF) / 16000
    return (6000 * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 1.3 * t))).astype("<i2")


def chunk(seq: int, frame_start: int, n_frames: int, is_last: bool = False, job: JobRef = JOB,
          seed: int = 0, audio: np.ndarray | None = None) -> tuple[FrameChunkMeta, bytes]:
    """A frames record as the lipsync stage writes it: patches, then the chunk's PCM with the
    job's audio around it (clipped at the job's ends, as the tts stage sends it)."""
    rng = np.random.default_rng(seed + seq)
    x0, y0, x1, y1 = BOX
    patches = rng.integers(0, 256, (n_frames, y1 - y0, x1 - x0, 3), dtype=np.uint8)
    audio = job_audio(frame_start + n_frames) if audio is None else audio
    a0, a1 = frame_start * SPF, (frame_start + n_frames) * SPF
    lo, hi = max(0, a0 - BEFORE), min(len(audio), a1 + AFTER)
    meta = FrameChunkMeta(job=job, seq=seq, frame_start=frame_start, n_frames=n_frames, box=BOX,
                          patch_bytes=patches.nbytes, sample_rate_hz=16000, is_last=is_last,
                          context_before_samples=a0 - lo, context_after_samples=hi - a1)
    return meta, patches.tobytes() + audio[lo:hi].tobytes()


def job_chunks(sizes: tuple[int, ...] = SIZES) -> list[tuple[FrameChunkMeta, bytes]]:
    audio = job_audio(sum(sizes))
    starts = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    return [chunk(seq, int(starts[seq]), n, seq == len(sizes) - 1, audio=audio)
            for seq, n in enumerate(sizes)]


def decoded_audio(mp4: Path) -> np.ndarray:
    with av.open(str(mp4)) as c:
        return np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(c.streams.audio[0])]) * 32768


def test_a_frame_record_must_hold_its_patches_and_audio_exactly() -> None:
    meta, value = chunk(0, 0, 5)
    assert frame_chunk_meta(meta.to_headers(), value) == meta
    for wrong in (value[:-2], value + b"\x00\x00"):
        expected = f"frame chunk is {len(wrong)} bytes, expected {len(value)}"
        with pytest.raises(ValueError, match=expected):
            frame_chunk_meta(meta.to_headers(), wrong)


def test_compose_chunk_pastes_the_patches_onto_the_avatar(avatar: Avatar) -> None:
    meta, value = chunk(0, 7, 4)
    assert meta.context_before_samples == BEFORE and meta.context_after_samples == 0
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


def test_each_chunk_encodes_alone_into_one_playable_stream(avatar: Avatar, tmp_path: Path) -> None:
    loads: list[str] = []

    def load(avatar_id: str) -> Avatar:
        loads.append(avatar_id)
        return avatar

    avatars: AvatarCache[Avatar] = AvatarCache(load, lambda a: a)
    records = []
    for meta, value in job_chunks():
        records += segment_records(meta, encode_frames(avatars, LipsyncSettings(), meta, value))
    assert loads == ["astro"]  # one avatar load for the whole job
    kinds = [(r.meta.kind, r.meta.seq) for r in records]
    assert kinds == [("init", 0), ("media", 0), ("media", 1), ("media", 2), ("end", 3)]
    init, *media, end = records
    assert init.meta.mime is not None and init.meta.mime.startswith('video/mp4; codecs="avc1.')
    assert {(r.meta.job_id, r.meta.submitted_at) for r in records} == {("j1", 3.0)}
    assert [r.meta.start_s for r in media] == pytest.approx([0, 10 / 25, 35 / 25])
    assert [r.meta.duration_s for r in media] == pytest.approx([n / 25 for n in SIZES])
    assert (end.meta.total, end.meta.is_last, end.value) == (3, True, b"")
    assert end.meta.duration_s == pytest.approx(42 / 25)
    assert (end.meta.avatar_id, end.meta.voice_id) == ("astro", "piper:joe")

    info = remux_to_mp4(init.value, [r.value for r in media], tmp_path / "job.mp4")
    assert info.video_frames == sum(SIZES) and (info.width, info.height) == (512, 512)
    assert abs(info.audio_duration_s - info.video_duration_s) <= 1 / 25 + 1e-6


def test_chunking_is_inaudible_and_a_reencoded_chunk_is_the_same_bytes(avatar: Avatar,
                                                                       tmp_path: Path) -> None:
    """The decoded audio of a job encoded chunk by chunk matches the same job encoded as one
    chunk (AAC pre-roll keeps the boundaries continuous), and encoding a chunk again, alone
    and out of order as a new owner after a failover would, gives identical bytes."""
    avatars: AvatarCache[Avatar] = AvatarCache(lambda _i: avatar, lambda a: a)
    chunked = [encode_frames(avatars, LipsyncSettings(), m, v) for m, v in job_chunks()]
    whole = encode_frames(avatars, LipsyncSettings(), *job_chunks((sum(SIZES),))[0])
    remux_to_mp4(chunked[0].init, [c.media for c in chunked], tmp_path / "chunked.mp4")
    remux_to_mp4(whole.init, [whole.media], tmp_path / "whole.mp4")
    a, b = decoded_audio(tmp_path / "chunked.mp4"), decoded_audio(tmp_path / "whole.mp4")
    source = job_audio(sum(SIZES)).astype(float)
    assert len(a) == len(b) >= len(source)
    body = len(source) - 2048  # the last packets differ by the encoders' flush, not by chunking
    assert np.abs(a[:body] - b[:body]).max() < 8  # of 32768: boundaries at frames 10, 35 vanish
    error = a[1024:body] - source[1024:body]  # past the codec's onset at the job's first packet
    assert np.sqrt(np.mean(error ** 2)) < 0.01 * np.sqrt(np.mean(source ** 2))

    meta, value = job_chunks()[1]
    again = encode_frames(avatars, LipsyncSettings(), meta, value)
    assert (again.init, again.media) == (chunked[1].init, chunked[1].media)


def test_a_chunk_without_enough_audio_before_it_is_refused(avatar: Avatar) -> None:
    avatars: AvatarCache[Avatar] = AvatarCache(lambda _i: avatar, lambda a: a)
    meta, value = chunk(1, 50, 5)
    short = meta.model_copy(update={"context_before_samples": 400})
    trimmed = value[:meta.patch_bytes] + value[meta.patch_bytes + 2 * (BEFORE - 400):]
    with pytest.raises(ValueError, match="pre-roll"):
        encode_frames(avatars, LipsyncSettings(), short, trimmed)
