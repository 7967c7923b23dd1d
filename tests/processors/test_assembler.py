"""The assembler stage: what it does with each segment record, and the final MP4 it remuxes
from the stored segments of a real encode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.store import MediaStore
from models.media.encode import EncodeSettings, SegmentEncoder
from processors.assembler import assemble, segment_action
from schemas.pipeline import SegmentMeta


def test_segments_are_stored_and_the_end_marker_assembles() -> None:
    assert segment_action(SegmentMeta(job_id="j1", kind="init", seq=0)) == "store"
    assert segment_action(SegmentMeta(job_id="j1", kind="media", seq=4)) == "store"
    assert segment_action(SegmentMeta(job_id="j1", kind="end", seq=3, total=3)) == "assemble"
    for total in (None, 0):
        with pytest.raises(ValueError, match="end marker without a segment count"):
            segment_action(SegmentMeta(job_id="j1", kind="end", seq=0, total=total))


def test_assemble_remuxes_the_stored_segments(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    encoder = SegmentEncoder(EncodeSettings(width=64, height=48, fps=25))
    segments = []
    try:
        for n in (10, 25, 25, 3):
            frames = rng.integers(0, 256, (n, 48, 64, 3), dtype=np.uint8)
            pcm = rng.integers(-3000, 3000, n * 640, dtype=np.int16)
            segments += encoder.add_chunk(frames, pcm)
        segments += encoder.finish()
    finally:
        encoder.close()
    assert encoder.init_segment is not None and len(segments) == 4
    store = MediaStore(tmp_path)
    store.write_segment("j1", "init", 0, encoder.init_segment)
    for seg in reversed(segments):  # the order they are stored in does not matter
        store.write_segment("j1", "media", seg.index, seg.data)

    info = assemble(store, SegmentMeta(job_id="j1", kind="end", seq=4, total=4))
    assert info.video_frames == 63 and (info.width, info.height) == (64, 48)
    assert info.video_duration_s == pytest.approx(63 / 25, abs=1e-6)
    assert store.final_path("j1").is_file()
    with pytest.raises(FileNotFoundError):  # a count beyond the stored segments is an error
        assemble(store, SegmentMeta(job_id="j1", kind="end", seq=5, total=5))
