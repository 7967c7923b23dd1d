"""The lipsync stage's renderers: Wav2Lip from an official-format checkpoint (random weights),
one engine for every avatar and job, chunks of several jobs batched into shared passes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from models.avatars.avatar import Avatar
from models.avatars.sample import sample_avatar
from models.lipsync.animator import MouthAnimator
from models.lipsync.engine import Wav2LipRenderer
from models.lipsync.render import job_windows
from models.lipsync.wav2lip import Wav2Lip, save_checkpoint
from models.speech.audio_chunks import plan_chunks
from processors.lipsync import Renderers
from processors.settings import LipsyncSettings, WorkerSettings


@pytest.fixture(scope="module")
def avatar() -> Avatar:
    return sample_avatar()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("w2l") / "wav2lip.pth"
    save_checkpoint(Wav2Lip(), path)
    return path


def _windows(seed: int, n_frames: int = 16):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    audio = (rng.normal(0, 3000, n_frames * 640)).astype(np.int16)
    return list(job_windows(audio, plan_chunks(len(audio), 16000, 25, chunk_frames=8), 25))


def test_checkpoint_setting_selects_wav2lip(checkpoint: Path) -> None:
    settings = WorkerSettings.from_env({"WAV2LIP_CHECKPOINT": str(checkpoint), "AVATAR_LIPSYNC_PRECISION": "bf16"})
    assert settings.lipsync.wav2lip_checkpoint == checkpoint and settings.lipsync.precision == "bf16"
    assert WorkerSettings.from_env({}).lipsync.wav2lip_checkpoint is None


def test_without_checkpoint_the_animator_renders(avatar: Avatar) -> None:
    renderers = Renderers(LipsyncSettings(), lambda _id: avatar)
    assert isinstance(renderers.get("a"), MouthAnimator) and renderers.engine() is None
    [(box, patches)] = renderers.render([("a", _windows(0)[0])])
    assert box == renderers.get("a").patch_box and patches.shape[0] == 8


def test_jobs_share_one_engine_and_batched_passes(avatar: Avatar, checkpoint: Path) -> None:
    settings = LipsyncSettings(wav2lip_checkpoint=checkpoint, precision="bf16", max_batch_frames=16)
    renderers = Renderers(settings, lambda _id: avatar)
    a, b = renderers.get("one"), renderers.get("two")
    assert isinstance(a, Wav2LipRenderer) and isinstance(b, Wav2LipRenderer)
    engine = renderers.engine()
    assert engine is not None and a.engine is engine and b.engine is engine  # one model per process
    items = [("one", _windows(0)[1]), ("two", _windows(1)[0]), ("one", _windows(2)[1])]
    singles = [renderers.render([item])[0] for item in items]
    passes = engine.forward_passes
    batched = renderers.render(items)
    assert engine.forward_passes - passes == 2  # 3 chunks x 8 frames in passes of 16 + 8
    for (box1, p1), (box2, p2) in zip(singles, batched):
        assert box1 == box2 and np.abs(p1.astype(int) - p2.astype(int)).max() <= 1
