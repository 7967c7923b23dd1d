"""The per-chunk rendering path shared by the lipsync stage and the offline render.

A chunk arrives as its own audio plus the job's true neighbouring audio (context), so a
renderer needs no state across chunks: each output frame depends only on job audio within
a fixed distance of it, and the chunking of a job is invisible in the result.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from models.avatars.avatar import Avatar
from models.lipsync.mel import SAMPLE_RATE_HZ
from models.speech.audio_chunks import AudioSpan

CONTEXT_BEFORE_S = 0.2  # what the tts stage sends; renderers need at most this much
CONTEXT_AFTER_S = 0.25

Box = tuple[int, int, int, int]  # x0, y0, x1, y1


@dataclass(frozen=True)
class AudioWindow:
    """One chunk's int16 audio with context: [before | n_frames * spf own | after]."""

    samples: np.ndarray  # (before + own + after,) int16
    before: int
    after: int
    frame_start: int  # job frame of the first own frame
    n_frames: int
    sample_rate_hz: int = SAMPLE_RATE_HZ
    fps: int = 25

    def __post_init__(self) -> None:
        if len(self.samples) != self.before + self.n_frames * self.spf + self.after:
            raise ValueError(f"{len(self.samples)} samples do not hold {self.before} + "
                             f"{self.n_frames} frames + {self.after}")

    @property
    def spf(self) -> int:
        return self.sample_rate_hz // self.fps

    @property
    def start_sample(self) -> int:
        """Job sample index of samples[0]."""
        return self.frame_start * self.spf - self.before

    @property
    def own(self) -> np.ndarray:
        return self.samples[self.before:self.before + self.n_frames * self.spf]

    def reaches_end(self, needed_after: int) -> bool:
        """Whether the job ends inside this window, as far as a renderer looking
        ``needed_after`` samples past the chunk can tell: the tts stage sends less
        context only where the job ends."""
        return self.after < needed_after


class ChunkRenderer(Protocol):
    """One avatar's mouth renderer: a pure function of the window, per chunk."""

    @property
    def patch_box(self) -> Box: ...

    def render_chunk(self, window: AudioWindow) -> np.ndarray:
        """(n_frames, y1 - y0, x1 - x0, 3) uint8 patches at patch_box."""
        ...


def compose(avatar: Avatar, frame_start: int, box: Box, patches: np.ndarray) -> np.ndarray:
    """Full frames (n, H, W, 3): avatar frames with ``patches`` pasted at ``box``."""
    x0, y0, x1, y1 = box
    if patches.shape[1:] != (y1 - y0, x1 - x0, 3):
        raise ValueError(f"patches {patches.shape[1:]} do not fit box {box}")
    frames = avatar.frames[[avatar.frame_index(frame_start + i) for i in range(len(patches))]]
    frames[:, y0:y1, x0:x1] = patches
    return frames


def job_windows(samples: np.ndarray, spans: list[AudioSpan], fps: int, sample_rate_hz: int = SAMPLE_RATE_HZ,
                before_s: float = CONTEXT_BEFORE_S, after_s: float = CONTEXT_AFTER_S) -> Iterator[AudioWindow]:
    """Windows over a whole job's audio as the tts stage cuts them: spans in job order,
    context clipped at the job's ends."""
    before_n, after_n = round(before_s * sample_rate_hz), round(after_s * sample_rate_hz)
    spf = sample_rate_hz // fps
    for span in spans:
        lo = max(0, span.start_sample - before_n)
        hi = min(len(samples), span.end_sample + after_n)
        yield AudioWindow(samples[lo:hi], span.start_sample - lo, hi - span.end_sample,
                          span.start_sample // spf, span.n_frames, sample_rate_hz, fps)
