"""Real encode/decode checks for models.media.encode (PyAV, no mocks): each chunk encoded on
its own, the segments together one stream."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from models.media.encode import ChunkSegment, EncodeSettings, encode_chunk, owned_packets
from models.media.mp4_boxes import fragment_tfdt, iter_boxes

W, H, FPS, SR = 64, 48, 25, 16000
SPF = SR // FPS
CHUNKS = (10, 25, 25)
BEFORE, AFTER = 3200, 4000  # the tts stage's default context


def _frames(first: int, n: int) -> np.ndarray:
    """Moving horizontal gradient so every frame differs."""
    x = np.arange(W, dtype=np.int32)[None, None, :]
    idx = np.arange(first, first + n, dtype=np.int32)[:, None, None]
    g = ((x * 4 + idx * 7) % 256).astype(np.uint8)
    g = np.broadcast_to(g[:, :, :, None], (n, 1, W, 3))
    return np.ascontiguousarray(np.broadcast_to(g, (n, H, W, 3)))


def sine(first_sample: int, n: int) -> np.ndarray:
    """Sine sweeping 300 -> ~800 Hz over the job: unlike a pure tone, its lag is unambiguous."""
    t = np.arange(first_sample, first_sample + n) / SR
    return (np.sin(2 * np.pi * (300.0 * t + 100.0 * t * t)) * 8000).astype(np.int16)


def chunk_audio(frame: int, n: int, total_frames: int) -> tuple[np.ndarray, int, int]:
    """(samples, before, after) of a chunk, with context clipped at the job's ends."""
    a0, a1 = frame * SPF, (frame + n) * SPF
    lo, hi = max(0, a0 - BEFORE), min(total_frames * SPF, a1 + AFTER)
    return sine(lo, hi - lo), a0 - lo, hi - a1


def encode_job(chunks: tuple[int, ...] = CHUNKS,
               settings: EncodeSettings | None = None) -> list[ChunkSegment]:
    """Every chunk of a job encoded on its own, in order."""
    settings = settings or EncodeSettings(width=W, height=H, fps=FPS, sample_rate_hz=SR)
    out, frame, total = [], 0, sum(chunks)
    for seq, n in enumerate(chunks):
        audio, before, after = chunk_audio(frame, n, total)
        out.append(encode_chunk(settings, _frames(frame, n), frame, audio, before, after,
                                seq == len(chunks) - 1, seq))
        frame += n
    return out


@pytest.fixture(scope="module")
def job() -> list[ChunkSegment]:
    return encode_job()


def _stream(segs: list[ChunkSegment]) -> bytes:
    return segs[0].init + b"".join(s.media for s in segs)


def _decode_video(data: bytes) -> list[av.VideoFrame]:
    with av.open(io.BytesIO(data), format="mp4") as c:
        return list(c.decode(video=0))


def test_segments_are_timed_and_share_one_init(job: list[ChunkSegment]) -> None:
    assert [s.start_s for s in job] == pytest.approx([0.0, 0.4, 1.4])
    assert [s.duration_s for s in job] == pytest.approx([0.4, 1.0, 1.0])
    assert len({s.init for s in job}) == 1  # equal settings, equal init: any serves all
    assert [b[0] for b in iter_boxes(job[0].init)] == [b"ftyp", b"moov"]
    for s in job:
        assert [b[0] for b in iter_boxes(s.media)] == [b"moof", b"mdat"]
    mime = job[0].mime
    assert mime.startswith('video/mp4; codecs="avc1.') and "mp4a.40.2" in mime


def test_each_segment_starts_with_keyframe_and_concat_has_all_frames(job: list[ChunkSegment]) -> None:
    for s, n in zip(job, CHUNKS, strict=True):
        frames = _decode_video(s.init + s.media)
        assert len(frames) == n
        assert frames[0].key_frame
        assert frames[0].format.name == "yuv420p"
    whole = _decode_video(_stream(job))
    assert len(whole) == sum(CHUNKS)
    assert [f.pts for f in whole] == sorted(f.pts for f in whole)


def test_fragment_tfdt_is_global_start(job: list[ChunkSegment]) -> None:
    for s in job:
        # Decoding init + this segment alone must place it at its global time.
        first = _decode_video(s.init + s.media)[0]
        assert float(first.time) == pytest.approx(s.start_s, abs=1e-6)
        tfdt = fragment_tfdt(s.media, track_id=1)
        assert tfdt is not None
        assert float(tfdt * first.time_base) == pytest.approx(s.start_s, abs=1e-6)


def test_audio_is_continuous_across_segments(job: list[ChunkSegment]) -> None:
    """Decoded audio follows the source through every boundary (at frames 10 and 35): no gap,
    no click, as close to it there as anywhere."""
    with av.open(io.BytesIO(_stream(job)), format="mp4") as c:
        a = c.streams.audio[0]
        assert a.time_base.denominator == SR
        # The priming packet sits before 0 per the elst; presentation starts with the video.
        assert next(c.demux(a)).pts == -1024
    with av.open(io.BytesIO(_stream(job)), format="mp4") as c:
        pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)]) * 32768
    source = sine(0, sum(CHUNKS) * SPF).astype(float)
    assert len(pcm) >= len(source)
    error = np.abs(pcm[:len(source)] - source)
    interior = error[2048:-2048]  # the codec's onset and the final flush aside
    for boundary in (10 * SPF, 35 * SPF):
        assert error[boundary - 512:boundary + 512].max() <= 2 * interior.max()
    assert np.sqrt(np.mean(interior ** 2)) < 0.01 * np.sqrt(np.mean(source ** 2))


def test_the_same_chunk_gives_the_same_bytes() -> None:
    again = encode_job()
    first = encode_job()
    assert [(s.init, s.media) for s in again] == [(s.init, s.media) for s in first]


def test_owned_packets_tile_the_packet_grid() -> None:
    """Every AAC packet belongs to exactly one chunk: the priming packet to the first, each
    later one to the chunk its start falls in, the tail to the last."""
    chunks = [(0, 1), (1, 5), (6, 12), (18, 1), (19, 7)]
    owners: dict[int, int] = {}
    for k, (frame, n) in enumerate(chunks):
        first, end = owned_packets(frame * SPF, n * SPF, k == len(chunks) - 1)
        stop = end if end is not None else 40 * 1024
        for pts in range(first, stop, 1024):
            assert pts not in owners
            owners[pts] = k
    assert sorted(owners) == list(range(-1024, 40 * 1024, 1024))


@pytest.mark.parametrize("w,h", [(63, 48), (64, 47)])
def test_odd_dimensions_raise(w: int, h: int) -> None:
    settings = EncodeSettings(width=w, height=h)
    with pytest.raises(ValueError):
        encode_chunk(settings, np.zeros((2, h, w, 3), np.uint8), 0, sine(0, 2 * SPF), 0, 0, True, 0)


def test_bad_chunk_shapes_raise() -> None:
    settings = EncodeSettings(width=W, height=H)
    with pytest.raises(ValueError, match="mono samples"):
        encode_chunk(settings, _frames(0, 2), 0, sine(0, SPF), 0, 0, True, 0)  # audio too short
    with pytest.raises(ValueError, match="uint8"):
        encode_chunk(settings, np.zeros((2, H, W + 2, 3), np.uint8), 0, sine(0, 2 * SPF), 0, 0,
                     True, 0)
    with pytest.raises(ValueError, match="pre-roll"):
        encode_chunk(settings, _frames(50, 2), 50, sine(50 * SPF - 100, 2 * SPF + 100), 100, 0,
                     True, 3)
