"""The assembler stage: what it does with each segment record, and the final MP4 it remuxes
from the stored segments of a real encode."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.store import MediaStore
from processors.assembler import assemble, segment_action
from schemas.pipeline import SegmentMeta
from tests.models.media.test_encode import encode_job


def test_segments_are_stored_and_the_end_marker_assembles() -> None:
    assert segment_action(SegmentMeta(job_id="j1", kind="init", seq=0)) == "store"
    assert segment_action(SegmentMeta(job_id="j1", kind="media", seq=4)) == "store"
    assert segment_action(SegmentMeta(job_id="j1", kind="end", seq=3, total=3)) == "assemble"
    for total in (None, 0):
        with pytest.raises(ValueError, match="end marker without a segment count"):
            segment_action(SegmentMeta(job_id="j1", kind="end", seq=0, total=total))


def test_assemble_remuxes_the_stored_segments(tmp_path: Path) -> None:
    segments = encode_job((10, 25, 25, 3))
    assert len(segments) == 4
    store = MediaStore(tmp_path)
    store.write_segment("j1", "init", 0, segments[0].init)
    for seq in reversed(range(len(segments))):  # the order they are stored in does not matter
        store.write_segment("j1", "media", seq, segments[seq].media)

    info = assemble(store, SegmentMeta(job_id="j1", kind="end", seq=4, total=4))
    assert info.video_frames == 63 and (info.width, info.height) == (64, 48)
    assert info.video_duration_s == pytest.approx(63 / 25, abs=1e-6)
    assert store.final_path("j1").is_file()
    with pytest.raises(FileNotFoundError):  # a count beyond the stored segments is an error
        assemble(store, SegmentMeta(job_id="j1", kind="end", seq=5, total=5))
