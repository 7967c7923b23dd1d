"""The stored and encoded frame size: capped long side, even sides, never larger than asked."""

from __future__ import annotations

import numpy as np

from models.media.frame_size import output_size, scale_frames


def test_output_size_keeps_the_avatar_size_and_caps_the_long_side() -> None:
    assert output_size(512, 512) == (512, 512)
    assert output_size(1920, 1080) == (1280, 720)
    assert output_size(1080, 1920, max_side=640) == (360, 640)
    assert all(v % 2 == 0 for v in output_size(1001, 777, max_side=501))


def test_sides_are_rounded_then_made_even_downwards() -> None:
    assert output_size(3000, 2000, max_side=800) == (800, 532)  # 533.3 -> 533 -> 532
    assert output_size(1006, 100, max_side=503) == (502, 50)  # an odd cap is never exceeded
    assert output_size(511, 509, max_side=1280) == (510, 508)  # at most one pixel lost
    assert output_size(3, 1, max_side=1) == (2, 2)  # at least 2 x 2


def test_scale_frames_resizes_only_when_needed() -> None:
    frames = np.zeros((2, 48, 64, 3), np.uint8)
    assert scale_frames(frames, (64, 48)) is frames
    assert scale_frames(frames, (32, 24)).shape == (2, 24, 32, 3)
