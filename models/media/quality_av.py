"""Lip-sync quality from a finished MP4 alone: does the mouth move with the voice, and when?

The mouth opening of every decoded frame (MediaPipe face mesh: inner-lip gap 13-14 over the
mouth width 61-291) is correlated with the audio envelope (frame RMS in dB, floored), both
sampled per video frame. The offset is the lag of the best cross-correlation; positive means
the mouth moves after the sound.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import av
import numpy as np

from models.lipsync.mel import SAMPLE_RATE_HZ

_UPPER, _LOWER, _LEFT, _RIGHT = 13, 14, 61, 291  # face-mesh landmark indices
_FLOOR_DBFS = -50.0


@dataclass(frozen=True)
class SyncQuality:
    frames: int
    face_found: float  # share of frames where the mesh found a face
    correlation: float  # mouth opening vs audio envelope at lag 0
    offset_frames: int  # lag of the best cross-correlation (+: video late)
    best_correlation: float

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def decode(path: Path, sample_rate_hz: int = SAMPLE_RATE_HZ) -> tuple[list[np.ndarray], float, np.ndarray]:
    """RGB frames, fps, and mono int16 audio placed by its timestamps (priming trimmed)."""
    with av.open(str(path)) as container:
        vstream = container.streams.video[0]
        fps = float(vstream.average_rate or 25)
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(vstream)]
    resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate_hz)
    audio = np.zeros(0, np.int16)
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.audio[0]):
            for out in resampler.resample(frame):
                data = out.to_ndarray().reshape(-1)
                start = round(float(out.pts * out.time_base) * sample_rate_hz) if out.pts is not None else len(audio)
                if start < 0:
                    data, start = data[-start:], 0
                if len(audio) < start + len(data):
                    audio = np.pad(audio, (0, start + len(data) - len(audio)))
                audio[start:start + len(data)] = data
    return frames, fps, audio


def mouth_openings(frames: list[np.ndarray]) -> np.ndarray:
    """(n,) inner-lip gap over mouth width per frame; NaN where no face was found."""
    import mediapipe as mp

    out = np.full(len(frames), np.nan)
    with mp.solutions.face_mesh.FaceMesh(static_image_mode=False, max_num_faces=1,
                                         refine_landmarks=False, min_detection_confidence=0.5) as mesh:
        for i, frame in enumerate(frames):
            result = mesh.process(np.ascontiguousarray(frame))
            if not result.multi_face_landmarks:
                continue
            lm = result.multi_face_landmarks[0].landmark
            h, w = frame.shape[:2]
            p = {k: np.array([lm[k].x * w, lm[k].y * h]) for k in (_UPPER, _LOWER, _LEFT, _RIGHT)}
            out[i] = np.linalg.norm(p[_LOWER] - p[_UPPER]) / max(1e-6, np.linalg.norm(p[_RIGHT] - p[_LEFT]))
    return out


def audio_envelope(audio: np.ndarray, sample_rate_hz: int, fps: float, n_frames: int) -> np.ndarray:
    """(n_frames,) RMS in dBFS per video frame, floored at -50 dB."""
    spf = sample_rate_hz / fps
    x = audio.astype(np.float64) / 32768.0
    env = np.full(n_frames, _FLOOR_DBFS)
    for i in range(n_frames):
        seg = x[round(i * spf):round((i + 1) * spf)]
        if len(seg):
            env[i] = max(_FLOOR_DBFS, 10 * np.log10(np.mean(seg ** 2) + 1e-12))
    return env


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    ok = ~(np.isnan(a) | np.isnan(b))
    if ok.sum() < 3 or np.std(a[ok]) == 0 or np.std(b[ok]) == 0:
        return 0.0
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def lagged_correlation(mouth: np.ndarray, envelope: np.ndarray, lag: int) -> float:
    """Correlation of mouth[t + lag] with envelope[t]."""
    if lag >= 0:
        return _corr(mouth[lag:], envelope[:len(envelope) - lag])
    return _corr(mouth[:lag], envelope[-lag:])


def measure(path: Path, max_lag_frames: int = 10) -> SyncQuality:
    frames, fps, audio = decode(path, SAMPLE_RATE_HZ)
    mouth = mouth_openings(frames)
    envelope = audio_envelope(audio, SAMPLE_RATE_HZ, fps, len(frames))
    lags = range(-max_lag_frames, max_lag_frames + 1)
    scores = [lagged_correlation(mouth, envelope, lag) for lag in lags]
    best = int(np.argmax(scores))
    return SyncQuality(frames=len(frames), face_found=float(np.mean(~np.isnan(mouth))) if len(frames) else 0.0,
                       correlation=round(lagged_correlation(mouth, envelope, 0), 4),
                       offset_frames=lags[best], best_correlation=round(scores[best], 4))
