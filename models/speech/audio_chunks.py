"""Cut a sentence's audio into chunks that line up with video frames.

The lip-sync model renders whole video frames, each owning exactly
``sample_rate_hz // fps`` audio samples. Keeping every chunk boundary on a frame
boundary means audio and video chunks can be muxed and streamed independently
without drift, and the first chunk can be made short to start playback sooner.
`cut_with_context` does this for a stream of sentences, giving each chunk the
job's real audio around it, which the lip-sync model's window looks at.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

_LOGGER = logging.getLogger(__name__)

__all__ = [
    "AudioCarry", "AudioSpan", "PlannedChunk", "ReadyChunk", "cut_with_context", "frame_align",
    "plan_chunks", "samples_per_frame",
]


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


@dataclass(frozen=True)
class PlannedChunk:
    """A chunk's place in the job: numbers are fixed when its sentence is planned."""

    seq: int
    sentence_seq: int
    frame_start: int
    n_frames: int


@dataclass(frozen=True)
class AudioCarry:
    """The job audio a streaming cutter keeps between sentences.

    ``samples`` start at global sample ``start_sample`` and run to the end of the
    audio seen so far: the history that later chunks need as context before them,
    then the own samples of ``held`` chunks, which wait for audio after them.
    """

    start_sample: int = 0
    samples: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int16))
    held: tuple[PlannedChunk, ...] = ()
    next_seq: int = 0
    next_frame: int = 0


@dataclass(frozen=True)
class ReadyChunk:
    """A chunk with its payload ``[before | own (n_frames * spf) | after]``."""

    chunk: PlannedChunk
    payload: np.ndarray
    before_samples: int
    after_samples: int


def cut_with_context(
    carry: AudioCarry,
    sentence_seq: int,
    samples: np.ndarray,
    sample_rate_hz: int,
    fps: int,
    chunk_frames: int,
    first_chunk_frames: int | None,
    before_samples: int,
    after_samples: int,
    final: bool,
    flush: bool = False,
) -> tuple[list[ReadyChunk], AudioCarry]:
    """Append one sentence's frame-aligned ``samples``; return the chunks now complete.

    A chunk is out once ``after_samples`` of the job's audio past its end exist (or
    the job ends), so its context is the true neighbouring audio, across sentence
    boundaries: cutting in a stream gives the same payloads as cutting the whole
    job's audio at once. Everything else stays in the returned carry. ``flush`` lets
    every chunk out now, as at the job's end, but keeps the history later chunks need
    (a live session's utterance ended, and the next may come much later).
    """
    spf = samples_per_frame(sample_rate_hz, fps)
    if carry.start_sample + len(carry.samples) != carry.next_frame * spf:
        raise ValueError("carry does not end where the next sentence starts")
    buf = np.concatenate([carry.samples, samples.astype(np.int16, copy=False)])
    new: list[PlannedChunk] = []
    seq, frame = carry.next_seq, carry.next_frame
    for span in plan_chunks(len(samples), sample_rate_hz, fps, chunk_frames, first_chunk_frames):
        new.append(PlannedChunk(seq, sentence_seq, frame, span.n_frames))
        seq, frame = seq + 1, frame + span.n_frames
    ready: list[ReadyChunk] = []
    waiting = [*carry.held, *new]
    while waiting:
        chunk = waiting[0]
        own_start = chunk.frame_start * spf - carry.start_sample
        own_end = own_start + chunk.n_frames * spf
        if not (final or flush) and own_end + after_samples > len(buf):
            break
        lo, hi = max(0, own_start - before_samples), min(len(buf), own_end + after_samples)
        ready.append(ReadyChunk(chunk, buf[lo:hi].copy(), own_start - lo, hi - own_end))
        waiting.pop(0)
    keep_to = waiting[0].frame_start * spf - carry.start_sample if waiting else len(buf)
    keep_from = max(0, keep_to - before_samples) if not final else len(buf)
    rest = AudioCarry(carry.start_sample + keep_from, buf[keep_from:].copy(), tuple(waiting), seq, frame)
    return ready, rest

