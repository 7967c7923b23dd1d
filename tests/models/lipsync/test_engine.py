"""Wav2Lip rendering (random weights): chunk by chunk equals whole job, batches equal singles."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.avatars.avatar import Avatar
from models.avatars.sample import sample_avatar
from models.lipsync.engine import Wav2LipEngine, Wav2LipRenderer, render_batch, render_each
from models.lipsync.render import job_windows
from models.lipsync.wav2lip import Precision, Wav2Lip
from models.speech.audio_chunks import plan_chunks

SPF = 640


@pytest.fixture(scope="module")
def avatar() -> Avatar:
    return sample_avatar()


@pytest.fixture(scope="module")
def model() -> Wav2Lip:
    torch.manual_seed(0)
    return Wav2Lip().eval()


def _speech(n_frames: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames * SPF) / 16000
    return (rng.normal(0, 3000, len(t)) * (0.5 + 0.5 * np.sin(2 * np.pi * 2 * t))).astype(np.int16)


def _render(renderer: Wav2LipRenderer, audio: np.ndarray, chunk: int, first: int | None) -> np.ndarray:
    spans = plan_chunks(len(audio), 16000, 25, chunk_frames=chunk, first_chunk_frames=first)
    return np.concatenate([renderer.render_chunk(w) for w in job_windows(audio, spans, 25)])


# bf16 without native support (most CPUs here) is several times slower than fp32: fewer frames
@pytest.mark.parametrize(("dtype", "frames"), [(torch.float32, 20), (torch.bfloat16, 6)])
def test_streaming_equals_offline(avatar: Avatar, model: Wav2Lip, dtype: torch.dtype, frames: int) -> None:
    renderer = Wav2LipRenderer(avatar, Wav2LipEngine(model, Precision("cpu", dtype)))
    audio = _speech(frames)
    whole = _render(renderer, audio, chunk=frames, first=None)
    streamed = _render(renderer, audio, chunk=8, first=3)
    assert whole.shape == (frames, *streamed.shape[1:])
    assert np.abs(whole.astype(int) - streamed.astype(int)).max() <= 1  # within one 8-bit level


def test_patches_change_only_the_lower_face(avatar: Avatar, model: Wav2Lip) -> None:
    renderer = Wav2LipRenderer(avatar, Wav2LipEngine(model, Precision("cpu", torch.float32)))
    patches = _render(renderer, _speech(4), chunk=4, first=None)
    x0, y0, x1, y1 = renderer.patch_box
    photo = avatar.frames[0, y0:y1, x0:x1]
    changed = np.any(patches != photo, axis=(0, 3))
    assert changed.any()
    rows = np.nonzero(changed.any(axis=1))[0]
    assert rows.min() + y0 > avatar.faces[0].box[1] + 0.25 * (avatar.faces[0].box[3] - avatar.faces[0].box[1])
    assert not changed[:, :2].any() and not changed[:, -2:].any()


def test_chunks_of_several_jobs_share_forward_passes(avatar: Avatar, model: Wav2Lip) -> None:
    engine = Wav2LipEngine(model, Precision("cpu", torch.float32), max_batch=16)
    renderer = Wav2LipRenderer(avatar, engine)
    jobs = []
    for k in range(3):
        audio = _speech(20, seed=k)
        jobs.append(list(job_windows(audio, plan_chunks(len(audio), 16000, 25, 8), 25))[k])
    singles = [renderer.render_chunk(w) for w in jobs]
    before = engine.forward_passes
    batched = render_batch(engine, [(renderer, w) for w in jobs])
    assert engine.forward_passes - before == 2  # 24 frames in passes of 16 + 8, not 3 passes
    for one, many in zip(singles, batched):
        assert np.abs(one.astype(int) - many.astype(int)).max() <= 1


def test_each_chunk_is_handed_on_as_soon_as_its_frames_are_through(avatar: Avatar, model: Wav2Lip) -> None:
    engine = Wav2LipEngine(model, Precision("cpu", torch.float32), max_batch=4)
    renderer = Wav2LipRenderer(avatar, engine)
    audio = _speech(20, seed=3)
    windows = list(job_windows(audio, plan_chunks(len(audio), 16000, 25, 8), 25))[:3]
    sizes = [w.n_frames for w in windows]
    passes_at = []
    out = {}
    for k, patches in render_each(engine, [(renderer, w) for w in windows]):
        passes_at.append(engine.forward_passes)
        out[k] = patches
    assert list(out) == [0, 1, 2]
    ends = np.cumsum(sizes)
    # chunk k is out once the passes covering its last frame are done, not after all of them
    assert passes_at == [-(-int(e) // 4) for e in ends]  # a fresh engine: passes count from 0
    assert passes_at[0] < passes_at[-1]
    for w, k in zip(windows, out):
        assert out[k].shape[0] == w.n_frames
        single = renderer.render_chunk(w)
        assert np.abs(single.astype(int) - out[k].astype(int)).max() <= 1
