"""Frame-aligned audio chunking."""

from __future__ import annotations

import numpy as np
import pytest

from models.speech.audio_chunks import AudioSpan, frame_align, plan_chunks, samples_per_frame


@pytest.mark.parametrize(
    ("n", "rate", "fps", "expected"),
    [(0, 16000, 25, 0), (1, 16000, 25, 640), (640, 16000, 25, 640), (641, 16000, 25, 1280),
     (1000, 16000, 20, 1600), (24000, 48000, 30, 24000)],
)
def test_frame_align_pads_with_trailing_zeros(n: int, rate: int, fps: int, expected: int) -> None:
    samples = np.arange(1, n + 1, dtype=np.int16)
    out = frame_align(samples, rate, fps)
    assert len(out) == expected and out.dtype == np.int16
    assert np.array_equal(out[:n], samples)
    assert not out[n:].any()


def test_frame_align_aligned_input_is_untouched() -> None:
    samples = np.ones(1280, dtype=np.int16)
    assert frame_align(samples, 16000, 25) is samples


@pytest.mark.parametrize(
    ("rate", "fps"), [(22050, 24), (16000, 24), (16000, 30), (22050, 60), (16000, 0)]
)
def test_frame_align_rejects_incompatible_rates(rate: int, fps: int) -> None:
    with pytest.raises(ValueError):
        frame_align(np.zeros(10, dtype=np.int16), rate, fps)


def test_frame_align_rejects_stereo() -> None:
    with pytest.raises(ValueError):
        frame_align(np.zeros((10, 2), dtype=np.int16), 16000, 25)


def _check_cover(spans: list[AudioSpan], n_samples: int, spf: int) -> None:
    pos = 0
    for span in spans:
        assert span.start_sample == pos
        assert span.n_samples == span.n_frames * spf and span.n_frames >= 1
        assert span.start_sample % spf == 0
        pos += span.n_samples
    assert pos == n_samples


@pytest.mark.parametrize("n_frames", [0, 1, 7, 25, 26, 50, 51, 113])
@pytest.mark.parametrize("first", [None, 5, 25, 40])
def test_plan_chunks_covers_exactly(n_frames: int, first: int | None) -> None:
    spf = samples_per_frame(16000, 25)
    spans = plan_chunks(n_frames * spf, 16000, 25, chunk_frames=25, first_chunk_frames=first)
    _check_cover(spans, n_frames * spf, spf)
    if n_frames:
        assert spans[0].n_frames == min(first or 25, n_frames)
        assert all(s.n_frames == 25 for s in spans[1:-1])
        assert spans[-1].n_frames <= max(25, first or 0)


def test_plan_chunks_first_shorter_then_regular() -> None:
    spans = plan_chunks(60 * 640, 16000, 25, chunk_frames=25, first_chunk_frames=8)
    assert [s.n_frames for s in spans] == [8, 25, 25, 2]
    assert [s.start_sample for s in spans] == [0, 8 * 640, 33 * 640, 58 * 640]


def test_slices_concatenate_to_input() -> None:
    rng = np.random.default_rng(0)
    samples = frame_align(rng.integers(-32768, 32767, 12345, dtype=np.int16), 16000, 25)
    spans = plan_chunks(len(samples), 16000, 25, chunk_frames=10, first_chunk_frames=3)
    pieces = [samples[s.start_sample : s.end_sample] for s in spans]
    assert np.array_equal(np.concatenate(pieces), samples)


@pytest.mark.parametrize(
    "kwargs",
    [{"n_samples": 641}, {"n_samples": -640}, {"chunk_frames": 0}, {"first_chunk_frames": 0},
     {"sample_rate_hz": 16000, "fps": 30}],
)
def test_plan_chunks_rejects_bad_input(kwargs: dict[str, int]) -> None:
    args = {"n_samples": 640, "sample_rate_hz": 16000, "fps": 25} | kwargs
    with pytest.raises(ValueError):
        plan_chunks(**args)
