"""Real encode/decode checks for models.media.encode (PyAV, no mocks)."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from models.media.encode import EncodedSegment, EncodeSettings, SegmentEncoder
from models.media.mp4_boxes import fragment_tfdt, iter_boxes

W, H, FPS, SR = 64, 48, 25, 16000
SPF = SR // FPS
CHUNKS = (10, 25, 25)


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


Returned = list[list[EncodedSegment]]


def encode_job(chunks: tuple[int, ...] = CHUNKS) -> tuple[SegmentEncoder, Returned]:
    """Encode ``chunks``; returns the encoder and what each call returned (finish last)."""
    enc = SegmentEncoder(EncodeSettings(width=W, height=H, fps=FPS, sample_rate_hz=SR))
    returned, frame = [], 0
    for n in chunks:
        returned.append(enc.add_chunk(_frames(frame, n), sine(frame * SPF, n * SPF)))
        frame += n
    returned.append(enc.finish())
    return enc, returned


@pytest.fixture(scope="module")
def job() -> tuple[SegmentEncoder, list[EncodedSegment], list[list[EncodedSegment]]]:
    enc, returned = encode_job()
    return enc, [s for r in returned for s in r], returned


def _decode_video(data: bytes) -> list[av.VideoFrame]:
    with av.open(io.BytesIO(data), format="mp4") as c:
        return list(c.decode(video=0))


def test_segments_indexed_timed_and_returned_by_next_call(job) -> None:
    enc, segs, returned = job
    assert [s.index for s in segs] == [0, 1, 2]
    assert [s.start_s for s in segs] == pytest.approx([0.0, 0.4, 1.4])
    assert [s.duration_s for s in segs] == pytest.approx([0.4, 1.0, 1.0])
    # Latency contract: chunk k's segment comes back no later than add_chunk(k+1) / finish().
    for k in range(len(CHUNKS)):
        assert k in [s.index for r in returned[: k + 2] for s in r]
    assert enc.init_segment is not None
    assert [b[0] for b in iter_boxes(enc.init_segment)] == [b"ftyp", b"moov"]
    for s in segs:
        kinds = [b[0] for b in iter_boxes(s.data)]
        assert kinds and kinds == [b"moof", b"mdat"] * (len(kinds) // 2)
    assert enc.mime_codecs is not None and enc.mime_codecs.startswith('video/mp4; codecs="avc1.')
    assert "mp4a.40.2" in enc.mime_codecs


def test_init_available_after_first_chunk() -> None:
    enc = SegmentEncoder(EncodeSettings(width=W, height=H))
    try:
        assert enc.init_segment is None
        enc.add_chunk(_frames(0, 5), sine(0, 5 * SPF))
        assert enc.init_segment is not None
    finally:
        enc.close()


def test_each_segment_starts_with_keyframe_and_concat_has_all_frames(job) -> None:
    enc, segs, _ = job
    for s, n in zip(segs, CHUNKS):
        frames = _decode_video(enc.init_segment + s.data)
        assert len(frames) == n
        assert frames[0].key_frame
        assert frames[0].format.name == "yuv420p"
    whole = _decode_video(enc.init_segment + b"".join(s.data for s in segs))
    assert len(whole) == sum(CHUNKS)
    assert [f.pts for f in whole] == sorted(f.pts for f in whole)


def test_fragment_tfdt_is_global_start(job) -> None:
    enc, segs, _ = job
    for s in segs:
        # Decoding init + this segment alone must place it at its global time.
        first = _decode_video(enc.init_segment + s.data)[0]
        assert float(first.time) == pytest.approx(s.start_s, abs=1e-6)
        tfdt = fragment_tfdt(s.data, track_id=1)
        assert tfdt is not None
        assert float(tfdt * first.time_base) == pytest.approx(s.start_s, abs=1e-6)


def test_audio_edit_list_hides_priming(job) -> None:
    enc, segs, _ = job
    with av.open(io.BytesIO(enc.init_segment + b"".join(s.data for s in segs)), format="mp4") as c:
        a = c.streams.audio[0]
        assert a.time_base.denominator == SR
        # The priming packet sits before 0 per the elst; presentation starts with the video.
        assert next(c.demux(a)).pts == -1024
        assert next(c.decode(a)).pts == 0


def test_finish_twice_and_close_are_harmless() -> None:
    enc, returned = encode_job((3,))
    assert [s.index for s in returned[-1]] == [0]
    assert enc.finish() == []
    enc.close()
    enc.close()
    with pytest.raises(RuntimeError):
        enc.add_chunk(_frames(0, 1), sine(0, SPF))

    idle = SegmentEncoder(EncodeSettings(width=W, height=H))
    idle.close()
    assert idle.finish() == []
    assert SegmentEncoder(EncodeSettings(width=W, height=H)).finish() == []


def test_close_mid_job_discards_output() -> None:
    enc = SegmentEncoder(EncodeSettings(width=W, height=H))
    enc.add_chunk(_frames(0, 4), sine(0, 4 * SPF))
    enc.close()
    assert enc.finish() == []


@pytest.mark.parametrize("w,h", [(63, 48), (64, 47)])
def test_odd_dimensions_raise(w: int, h: int) -> None:
    with pytest.raises(ValueError):
        SegmentEncoder(EncodeSettings(width=w, height=h))


def test_bad_chunk_shapes_raise() -> None:
    enc = SegmentEncoder(EncodeSettings(width=W, height=H))
    try:
        with pytest.raises(ValueError):
            enc.add_chunk(_frames(0, 2), sine(0, SPF))  # audio too short
        with pytest.raises(ValueError):
            enc.add_chunk(np.zeros((2, H, W + 2, 3), np.uint8), sine(0, 2 * SPF))
    finally:
        enc.close()
