"""Mel features exactly as Wav2Lip was trained on them, computable chunk by chunk.

The training recipe (Wav2Lip ``audio.py`` + ``hparams.py``): 16 kHz, pre-emphasis 0.97,
STFT n_fft = window = 800 (hann), hop 200, centred with reflect padding (librosa 0.7's
default), librosa's 80-band Slaney mel basis over 55..7600 Hz, amplitude in dB minus 20,
then clipped symmetric normalisation of [-100, 0] dB to [-4, 4].

Streaming: mel frame m is centred on job sample 200*m and sees samples within 400 of it,
plus one earlier sample through pre-emphasis. :func:`mel_window` therefore computes, from a
chunk's audio and its context, the exact frames the whole-job spectrogram would hold, and
:func:`frame_windows` cuts the model's 16-frame windows (80/fps mel frames per video frame,
clamped at the job's end) from them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

SAMPLE_RATE_HZ = 16000  # Wav2Lip's training rate, so the whole pipeline's audio rate
N_FFT, HOP, WIN = 800, 200, 800
N_MELS, FMIN_HZ, FMAX_HZ = 80, 55.0, 7600.0
PREEMPHASIS = 0.97
REF_LEVEL_DB, MIN_LEVEL_DB, MAX_ABS = 20.0, -100.0, 4.0
WINDOW_STEPS = 16  # mel frames per model input (0.2 s)


@lru_cache(maxsize=1)
def mel_basis() -> np.ndarray:
    """(80, 401) librosa Slaney mel filters, as in training."""
    import librosa

    return librosa.filters.mel(sr=SAMPLE_RATE_HZ, n_fft=N_FFT, n_mels=N_MELS, fmin=FMIN_HZ, fmax=FMAX_HZ)


def _normalise(magnitude: np.ndarray) -> np.ndarray:
    """(401, T) STFT magnitude -> (80, T) normalised mel in [-4, 4]."""
    min_level = np.exp(MIN_LEVEL_DB / 20 * np.log(10))
    db = 20 * np.log10(np.maximum(min_level, mel_basis() @ magnitude)) - REF_LEVEL_DB
    return np.clip(2 * MAX_ABS * (db - MIN_LEVEL_DB) / -MIN_LEVEL_DB - MAX_ABS, -MAX_ABS, MAX_ABS)


def _stft_magnitude(y: np.ndarray) -> np.ndarray:
    import librosa

    return np.abs(librosa.stft(y=y, n_fft=N_FFT, hop_length=HOP, win_length=WIN, center=True,
                               pad_mode="reflect"))


def melspectrogram(samples: np.ndarray) -> np.ndarray:
    """Whole-signal mel (80, 1 + len // 200) of int16 (or float in [-1, 1]) 16 kHz audio."""
    return mel_window(samples, 0, reaches_end=True).frames


def _as_float(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples).reshape(-1)
    return x.astype(np.float64) / 32768.0 if x.dtype == np.int16 else x.astype(np.float64)


@dataclass(frozen=True)
class MelSpan:
    """Mel frames first..first+len of the job's spectrogram, and the job's total if known."""

    first: int
    frames: np.ndarray  # (80, T) float32
    job_total: int | None  # mel frames in the whole job, when this span reaches its end


def mel_window(samples: np.ndarray, start_sample: int, reaches_end: bool) -> MelSpan:
    """The job-spectrogram frames that ``samples`` (job samples from ``start_sample``) determine.

    At the job's start (``start_sample == 0``) and end (``reaches_end``) the reflect padding
    is the job's own; elsewhere frames within 400 samples of an edge are left out.
    """
    x = _as_float(samples)
    end_sample = start_sample + len(x)
    margin = N_FFT // 2 // HOP  # frames centred within the padding that center=True adds
    if start_sample == 0:
        first, y = 0, np.append(x[:1], x[1:] - PREEMPHASIS * x[:-1])  # lfilter([1, -k], [1])
        mags = _stft_magnitude(y)
    else:  # first frame whose window, and the sample before it (pre-emphasis), lie inside
        first = -(-(start_sample + 1 + N_FFT // 2) // HOP)
        seg = x[first * HOP - N_FFT // 2 - 1 - start_sample:]
        mags = _stft_magnitude(seg[1:] - PREEMPHASIS * seg[:-1])[:, margin:]
    job_total = end_sample // HOP + 1 if reaches_end else None
    if not reaches_end:  # frames whose window crosses the span's end are not final yet
        last = (end_sample - N_FFT // 2) // HOP  # last frame with its window inside
        mags = mags[:, : max(0, last - first + 1)]
    return MelSpan(first, _normalise(mags).astype(np.float32), job_total)


def frame_windows(span: MelSpan, frame_start: int, n_frames: int, fps: int) -> np.ndarray:
    """(n_frames, 80, 16) model windows for video frames frame_start.. of the job.

    Frame i's window starts at mel frame int(i * 80 / fps); at the job's end it is clamped to
    the last 16 frames; a job shorter than 16 mel frames is padded with silence (-4).
    """
    out = np.empty((n_frames, N_MELS, WINDOW_STEPS), np.float32)
    for k in range(n_frames):
        start = int((frame_start + k) * 80.0 / fps)
        if span.job_total is not None:
            start = max(0, min(start, span.job_total - WINDOW_STEPS))
        lo = start - span.first
        window = span.frames[:, max(lo, 0):lo + WINDOW_STEPS]
        if lo < 0 or window.shape[1] < WINDOW_STEPS:
            if lo < 0 or span.job_total is None or span.job_total >= WINDOW_STEPS:
                raise ValueError(f"audio context too short for video frame {frame_start + k}: "
                                 f"needs mel frames {start}..{start + WINDOW_STEPS}, has "
                                 f"{span.first}..{span.first + span.frames.shape[1]}")
            window = np.pad(window, ((0, 0), (0, WINDOW_STEPS - window.shape[1])),
                            constant_values=-MAX_ABS)
        out[k] = window
    return out
