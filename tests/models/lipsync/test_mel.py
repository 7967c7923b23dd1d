"""Mel features: the training recipe exactly, and chunk-with-context equal to whole-job."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
from scipy import signal

from models.lipsync.mel import frame_windows, mel_basis, mel_window, melspectrogram

SPF = 640


def _reference(x: np.ndarray) -> np.ndarray:
    """Wav2Lip's audio.py, spelled out: lfilter pre-emphasis, librosa 0.7 stft (reflect pad)."""
    y = signal.lfilter([1, -0.97], [1], x.astype(np.float64) / 32768.0)
    d = np.abs(librosa.stft(y=y, n_fft=800, hop_length=200, win_length=800, pad_mode="reflect"))
    s = 20 * np.log10(np.maximum(1e-5, np.dot(mel_basis(), d))) - 20
    return np.clip(8 * ((s + 100) / 100) - 4, -4, 4)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(SPF * 70) / 16000
    return (rng.normal(0, 3000, len(t)) * (0.55 + 0.45 * np.sin(2 * np.pi * 2.5 * t))).astype(np.int16)


def test_matches_the_training_recipe(speech: np.ndarray) -> None:
    mel = melspectrogram(speech)
    assert mel.shape == (80, len(speech) // 200 + 1) and mel.dtype == np.float32
    np.testing.assert_allclose(mel, _reference(speech), atol=1e-5)
    assert mel_basis().shape == (80, 401)
    assert melspectrogram(np.zeros(3200, np.int16)).max() == -4.0  # silence is the floor


@pytest.mark.parametrize("start_frame,end_frame", [(0, 20), (10, 40), (33, 70), (45, 70)])
def test_a_span_gives_the_whole_jobs_frames(speech: np.ndarray, start_frame: int, end_frame: int) -> None:
    whole = melspectrogram(speech)
    lo = max(0, start_frame * SPF - 3200)
    hi = min(len(speech), end_frame * SPF + 4000)
    span = mel_window(speech[lo:hi], lo, reaches_end=hi == len(speech))
    assert span.frames.shape[1] > 0
    np.testing.assert_array_equal(span.frames, whole[:, span.first:span.first + span.frames.shape[1]])


def test_frame_windows_follow_the_models_mapping_and_clamp_at_the_end(speech: np.ndarray) -> None:
    whole = melspectrogram(speech)
    n_frames = len(speech) // SPF
    windows = frame_windows(mel_window(speech, 0, True), 0, n_frames, fps=25)
    assert windows.shape == (n_frames, 80, 16)
    for i in (0, 1, 7, 30):
        start = int(i * 80 / 25)
        np.testing.assert_array_equal(windows[i], whole[:, start:start + 16])
    np.testing.assert_array_equal(windows[-1], whole[:, -16:])  # clamped, as in the original


def test_chunks_with_context_give_the_whole_jobs_windows(speech: np.ndarray) -> None:
    n_frames = len(speech) // SPF
    whole = frame_windows(mel_window(speech, 0, True), 0, n_frames, fps=25)
    parts = []
    for f0 in range(0, n_frames, 25):
        f1 = min(n_frames, f0 + 25)
        lo, hi = max(0, f0 * SPF - 3200), min(len(speech), f1 * SPF + 4000)
        span = mel_window(speech[lo:hi], lo, reaches_end=hi - f1 * SPF < 2800)
        parts.append(frame_windows(span, f0, f1 - f0, fps=25))
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_missing_context_is_an_error_not_a_guess(speech: np.ndarray) -> None:
    span = mel_window(speech[20 * SPF:30 * SPF], 20 * SPF, reaches_end=False)
    with pytest.raises(ValueError, match="context too short"):
        frame_windows(span, 20, 10, fps=25)
