"""`avatar-stream render` (no Kafka) gives the streamed job's video: chunking is invisible."""

from __future__ import annotations

import asyncio
from pathlib import Path

import av
import numpy as np

from cli.client import generate_and_watch
from cli.render_offline import render_text
from cli.stack import Stack
from core.store import MediaStore
from models.avatars.avatar import load_avatar
from models.avatars.sample import SAMPLE_AVATAR_ID
from models.speech.tts_piper import PiperSpeaker
from processors.settings import WorkerSettings
from tests.e2e.gateway_util import wait_for_video

TEXT = "Offline and streamed. They render the same frames, chunk by chunk, sentence by sentence."


def _decode(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with av.open(str(path)) as c:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
    with av.open(str(path)) as c:
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
    return frames, audio


async def test_offline_render_equals_the_streamed_job(stack: Stack, tmp_path: Path) -> None:
    result = await generate_and_watch(stack.url, TEXT)
    streamed = tmp_path / "streamed.mp4"
    await wait_for_video(stack.url, result.job_id, streamed)

    speaker = PiperSpeaker(out_rate_hz=16000, deterministic=True)  # as the stack runs it
    avatar = load_avatar(MediaStore(stack.data_dir).avatar_dir(SAMPLE_AVATAR_ID))
    offline = tmp_path / "offline.mp4"
    await asyncio.to_thread(render_text, TEXT, avatar, offline, WorkerSettings.from_env({}),
                            lambda text: speaker.synthesize(text).samples)

    frames_s, audio_s = _decode(streamed)
    frames_o, audio_o = _decode(offline)
    assert frames_s.shape == frames_o.shape and len(frames_s) > 50
    assert np.abs(frames_s.astype(int) - frames_o.astype(int)).max() <= 1
    assert len(audio_s) == len(audio_o) and np.abs(audio_s - audio_o).max() < 1e-3
    moving = np.abs(np.diff(frames_o.astype(np.int16), axis=0)).max(axis=(1, 2, 3))
    assert (moving > 0).sum() > 10  # the mouth actually moves
