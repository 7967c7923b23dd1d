"""MP4 box reading agrees with the encoder about the MSE type."""

from __future__ import annotations

import numpy as np

from models.media.encode import EncodeSettings, encode_chunk
from models.media.mp4_boxes import mime_codecs


def test_mime_matches_the_encoder() -> None:
    settings = EncodeSettings(width=64, height=48)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (10, 48, 64, 3), dtype=np.uint8)
    audio = (rng.standard_normal(10 * 640) * 1000).astype(np.int16)
    segment = encode_chunk(settings, frames, 0, audio, 0, 0, True, 0)
    mime = mime_codecs(segment.init)
    assert mime is not None and mime == segment.mime
    assert mime.startswith('video/mp4; codecs="avc1.') and mime.endswith(', mp4a.40.2"')


def test_unreadable_input_gives_defaults() -> None:
    assert mime_codecs(b"not an mp4") is None
