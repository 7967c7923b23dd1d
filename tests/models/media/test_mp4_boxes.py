"""MP4 box reading agrees with the encoder about the MSE type."""

from __future__ import annotations

import numpy as np

from models.media.encode import EncodeSettings, SegmentEncoder
from models.media.mp4_boxes import mime_codecs


def test_mime_matches_the_encoder() -> None:
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


def test_unreadable_input_gives_defaults() -> None:
    assert mime_codecs(b"not an mp4") is None
