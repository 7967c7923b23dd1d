"""Cut a sentence's audio into chunks that line up with video frames.

The lip-sync model renders whole video frames, each owning exactly
``sample_rate_hz // fps`` audio samples. Keeping every chunk boundary on a frame
boundary means audio and video chunks can be muxed and streamed independently
without drift, and the first chunk can be made short to start playback sooner.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

_LOGGER = logging.getLogger(__name__)

__all__ = ["AudioSpan", "frame_align", "plan_chunks", "samples_per_frame"]


def samples_per_frame(sample_rate_hz: int, fps: int) -> int:
    """Samples per video frame; the rate must divide evenly so frames never drift."""
    if sample_rate_hz <= 0 or fps <= 0:
        raise ValueError(f"sample_rate_hz and fps must be positive, got {sample_rate_hz}, {fps}")
    if sample_rate_hz % fps:
        raise ValueError(
            f"sample_rate_hz {sample_rate_hz} is not a whole multiple of fps {fps}; "
            "audio and video would drift apart"
        )
    return sample_rate_hz // fps


def frame_align(samples: np.ndarray, sample_rate_hz: int, fps: int) -> np.ndarray:
    """Pad ``samples`` with trailing zeros to a whole number of video frames.

    Silence at the end is inaudible and keeps the last frame's mouth closed. An
    already aligned array is returned as is (no copy).
    """
    if samples.ndim != 1:
        raise ValueError(f"expected mono 1-D samples, got shape {samples.shape}")
    spf = samples_per_frame(sample_rate_hz, fps)
    pad = (-len(samples)) % spf
    if pad == 0:
        return samples
    return np.concatenate([samples, np.zeros(pad, dtype=samples.dtype)])


@dataclass(frozen=True)
class AudioSpan:
    """A frame-aligned slice ``[start_sample, start_sample + n_samples)``."""

    start_sample: int
    n_samples: int
    n_frames: int

    @property
    def end_sample(self) -> int:
        return self.start_sample + self.n_samples


def plan_chunks(
    n_samples: int,
    sample_rate_hz: int,
    fps: int,
    chunk_frames: int = 25,
    first_chunk_frames: int | None = None,
) -> list[AudioSpan]:
    """Plan spans covering ``n_samples`` exactly, in order, on frame boundaries.

    The first span has ``first_chunk_frames`` frames when given (a short first
    chunk reaches the viewer sooner), the rest ``chunk_frames``; the last span
    takes whatever is left. ``n_samples`` must already be frame-aligned.
    """
    spf = samples_per_frame(sample_rate_hz, fps)
    if n_samples < 0 or n_samples % spf:
        raise ValueError(
            f"n_samples {n_samples} is not a whole number of frames of {spf} samples; "
            "call frame_align first"
        )
    if chunk_frames < 1:
        raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
    if first_chunk_frames is not None and first_chunk_frames < 1:
        raise ValueError(f"first_chunk_frames must be >= 1 or None, got {first_chunk_frames}")

    total_frames = n_samples // spf
    spans: list[AudioSpan] = []
    frame = 0
    size = first_chunk_frames if first_chunk_frames is not None else chunk_frames
    while frame < total_frames:
        n_frames = min(size, total_frames - frame)
        spans.append(AudioSpan(frame * spf, n_frames * spf, n_frames))
        frame += n_frames
        size = chunk_frames
    _LOGGER.debug("planned %d spans over %d frames", len(spans), total_frames)
    return spans
