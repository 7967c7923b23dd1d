"""MP4 box reading agrees with the encoder about MSE type and segment timing."""

from __future__ import annotations

import numpy as np

from models.media.encode import EncodeSettings, SegmentEncoder
from models.media.mp4_boxes import mime_codecs, timing_of


def test_timing_and_mime_match_the_encoder() -> None:
    settings = EncodeSettings(width=64, height=48)
    encoder = SegmentEncoder(settings)
    segments = []
    rng = np.random.default_rng(0)
    try:
        for n_frames in (10, 25, 25, 7):
            frames = rng.integers(0, 255, (n_frames, 48, 64, 3), dtype=np.uint8)
            audio = (rng.standard_normal(n_frames * 640) * 1000).astype(np.int16)
            segments += encoder.add_chunk(frames, audio)
        segments += encoder.finish()
        init = encoder.init_segment
    finally:
        encoder.close()
    assert init is not None and len(segments) == 4
    mime = mime_codecs(init)
    assert mime is not None and mime == encoder.mime_codecs
    assert mime.startswith('video/mp4; codecs="avc1.') and mime.endswith(', mp4a.40.2"')
    for segment in segments:
        start_s, duration_s = timing_of(init, segment.data)
        assert abs(start_s - segment.start_s) < 1e-6 and abs(duration_s - segment.duration_s) < 1e-6


def test_unreadable_input_gives_defaults() -> None:
    assert mime_codecs(b"not an mp4") is None
    assert timing_of(b"junk", b"more junk") == (0.0, 0.0)
    assert timing_of(b"\x00\x00\x00\x10moov\x00\x00\x00\x00\x00\x00\x00\x00", b"\x00\x00\x00\x08moof") == (0.0, 0.0)
