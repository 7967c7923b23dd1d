"""Lip-sync throughput on this machine: the Wav2Lip network (random weights: speed does not
depend on their values), the renderers, and the default pipeline (render + compose + encode)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch

from models.avatars.avatar import Avatar
from models.lipsync.animator import MouthAnimator
from models.lipsync.engine import Wav2LipEngine, Wav2LipRenderer, render_batch
from models.lipsync.render import AudioWindow, compose
from models.lipsync.wav2lip import Precision, Wav2Lip
from models.media.encode import EncodeSettings, encode_chunk
from schemas.options import AUDIO_SAMPLE_RATE_HZ

_SPF = AUDIO_SAMPLE_RATE_HZ // 25  # audio samples per video frame at AudioWindow's default fps


def _fps(frames: int, fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: allocations, kernel choice, librosa's first call
    started = time.perf_counter()
    for _ in range(repeats):
        fn()
    return round(frames * repeats / (time.perf_counter() - started), 1)


def _speech(n_frames: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames * _SPF) / AUDIO_SAMPLE_RATE_HZ
    envelope = 0.5 * (1 - np.cos(2 * np.pi * 3.0 * t))
    return (envelope * rng.normal(0, 4000, len(t))).clip(-32768, 32767).astype(np.int16)


def _window(n_frames: int, frame_start: int, seed: int) -> AudioWindow:
    before, after = 3200, 4000
    audio = _speech(n_frames + 12, seed)
    return AudioWindow(audio[:before + n_frames * _SPF + after], before, after, frame_start, n_frames)


def _precisions() -> dict[str, Precision]:
    out = {"fp32": Precision("cpu", torch.float32), "bf16": Precision("cpu", torch.bfloat16)}
    if torch.cuda.is_available():
        out["fp16_cuda"] = Precision("cuda", torch.float16)
    return out


def bench(avatar: Avatar, repeats: int = 3, chunk_frames: int = 25) -> dict[str, object]:
    report: dict[str, object] = {"torch_threads": torch.get_num_threads(), "avatar": f"{avatar.width}x{avatar.height}"}
    model = Wav2Lip()
    rng = np.random.default_rng(0)
    for name, precision in _precisions().items():
        engine = Wav2LipEngine(model, precision, max_batch=16)
        row: dict[str, float] = {}
        for batch in (1, 16):
            mels = rng.uniform(-4, 4, (batch, 80, 16)).astype(np.float32)
            faces = rng.integers(0, 255, (batch, 6, 96, 96), dtype=np.uint8)
            row[f"network_batch{batch}_fps"] = _fps(batch, lambda m=mels, f=faces, e=engine: e.forward(m, f),
                                                    repeats if batch > 1 else 4 * repeats)
        renderer = Wav2LipRenderer(avatar, engine)
        jobs = [(renderer, _window(chunk_frames, 100 * k, k)) for k in range(4)]
        row["renderer_4_jobs_fps"] = _fps(4 * chunk_frames, lambda e=engine, j=jobs: render_batch(e, j), repeats)
        report[f"wav2lip_{name}"] = row
    animator = MouthAnimator(avatar)
    window = _window(chunk_frames, 0, 0)
    report["animator_fps"] = _fps(chunk_frames, lambda: animator.render_chunk(window), 4 * repeats)
    report["default_pipeline_fps"] = _pipeline_fps(avatar, animator, chunk_frames, repeats)
    return report


def _pipeline_fps(avatar: Avatar, animator: MouthAnimator, chunk_frames: int, repeats: int) -> float:
    """One stream through the default path: animator render + compose + H.264/AAC encode."""
    windows = [_window(chunk_frames, k * chunk_frames, k) for k in range(4 * repeats)]

    def run() -> None:
        settings = EncodeSettings(width=avatar.width, height=avatar.height)
        for k, w in enumerate(windows):
            frames = compose(avatar, w.frame_start, animator.patch_box, animator.render_chunk(w))
            encode_chunk(settings, frames, w.frame_start, w.samples, w.before, w.after,
                         k == len(windows) - 1, k)

    return _fps(len(windows) * chunk_frames, run, 1)
