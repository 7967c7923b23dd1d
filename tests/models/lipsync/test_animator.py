"""Mouth animation on the astronaut: audio level -> openness -> warped mouth patches."""

from __future__ import annotations

import itertools
import logging
import time

import numpy as np
import pytest

from models.avatars.avatar import Avatar
from models.avatars.sample import sample_avatar
from models.lipsync.animator import AnimatorSettings, MouthAnimator

SR, FPS = 16000, 25
SPF = SR // FPS


@pytest.fixture(scope="module")
def avatar() -> Avatar:
    return sample_avatar()


@pytest.fixture(scope="module")
def animator(avatar: Avatar) -> MouthAnimator:
    return MouthAnimator(avatar, AnimatorSettings(fps=FPS, sample_rate_hz=SR))


def _speech_like(n_frames: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Noise bursts (int16 peaks ~8000) every other 5 frames; returns audio and loud-frame mask."""
    rng = np.random.default_rng(seed)
    loud = (np.arange(n_frames) // 5) % 2 == 0
    envelope = np.repeat(np.where(loud, 1.0, 0.02), SPF)
    noise = np.clip(rng.normal(0.0, 2700.0, n_frames * SPF), -8000, 8000)
    return (noise * envelope).astype(np.int16), loud


def _lip_area(animator: MouthAnimator, avatar: Avatar) -> tuple[slice, slice]:
    x0, y0, _, _ = animator.patch_box
    mouth = avatar.faces[0].mouth
    (mx0, my0), (mx1, my1) = mouth.min(axis=0), mouth.max(axis=0)
    return slice(int(my0) - y0, int(np.ceil(my1)) + 1 - y0), slice(int(mx0) - x0, int(np.ceil(mx1)) + 1 - x0)


def test_silence_keeps_mouth_closed(animator: MouthAnimator) -> None:
    zeros = np.zeros(50 * SPF, np.int16)
    assert np.all(animator.openness(zeros, 50) < 0.05)
    hiss = np.random.default_rng(1).normal(0, 20, 50 * SPF).astype(np.int16)
    assert np.all(animator.openness(hiss, 50) < 0.05)


def test_speech_opens_mouth_in_loud_frames(animator: MouthAnimator) -> None:
    audio, loud = _speech_like(60)
    level = animator.openness(audio, 60)
    assert level.shape == (60,) and level.dtype == np.float32
    assert np.all((level >= 0.0) & (level <= 1.0))
    assert level[loud].mean() > 0.6
    assert level[~loud].mean() < 0.35
    assert level[loud].mean() - level[~loud].mean() > 0.4


def test_openness_follows_a_syllable_envelope(animator: MouthAnimator) -> None:
    t = np.arange(100 * SPF) / SR
    envelope = 0.5 * (1 - np.cos(2 * np.pi * 3.0 * t))  # ~3 syllables per second
    audio = (8000 * envelope * np.sin(2 * np.pi * 180.0 * t)).astype(np.int16)
    level = animator.openness(audio, 100)
    per_frame = envelope.reshape(100, SPF).mean(axis=1)
    assert np.corrcoef(level, per_frame)[0, 1] > 0.8


def test_openness_is_deterministic_and_chunk_consistent(animator: MouthAnimator) -> None:
    audio, _ = _speech_like(50, seed=3)
    whole = animator.openness(audio, 50)
    np.testing.assert_array_equal(whole, animator.openness(audio, 50))
    first = animator.openness(audio[: 25 * SPF], 25)
    second = animator.openness(audio[25 * SPF :], 25)
    # Level is absolute, not per-chunk normalised: away from the chunk edge (where, without
    # context, the smoothing sees silence) the chunks agree with the whole.
    np.testing.assert_allclose(first[:-2], whole[:23], atol=1e-6)
    np.testing.assert_allclose(second[2:], whole[27:], atol=1e-6)
    quieter = animator.openness((audio.astype(np.float32) * 0.1).astype(np.int16), 50)
    assert quieter.mean() < whole.mean() - 0.2


def test_openness_tolerates_length_mismatch(animator: MouthAnimator) -> None:
    audio, _ = _speech_like(10)
    assert animator.openness(audio[:-100], 10).shape == (10,)
    assert animator.openness(np.concatenate([audio, audio]), 10).shape == (10,)
    assert animator.openness(audio, 0).shape == (0,)


def test_patch_box_is_even_inside_the_frame_and_covers_the_mouth(animator: MouthAnimator, avatar: Avatar) -> None:
    x0, y0, x1, y1 = animator.patch_box
    assert all(v % 2 == 0 for v in animator.patch_box)
    assert 0 <= x0 < x1 <= avatar.width and 0 <= y0 < y1 <= avatar.height
    face = avatar.faces[0]
    for pts in (face.mouth, face.jaw[6:13]):  # lips and chin
        assert np.all((pts[:, 0] > x0) & (pts[:, 0] < x1) & (pts[:, 1] > y0) & (pts[:, 1] < y1))
    assert (x1 - x0) * (y1 - y0) < avatar.width * avatar.height / 10  # a patch, not the frame


def test_closed_mouth_is_the_photo(animator: MouthAnimator, avatar: Avatar) -> None:
    x0, y0, x1, y1 = animator.patch_box
    patches = animator.render(0, np.zeros(3, np.float32))
    assert patches.shape == (3, y1 - y0, x1 - x0, 3) and patches.dtype == np.uint8
    for patch in patches:
        np.testing.assert_array_equal(patch, avatar.frames[0, y0:y1, x0:x1])


def test_open_mouth_changes_the_lips_monotonically(animator: MouthAnimator, avatar: Avatar) -> None:
    x0, y0, x1, y1 = animator.patch_box
    original = avatar.frames[0, y0:y1, x0:x1].astype(np.int16)
    levels = np.array([0.0, 0.25, 0.5, 0.75, 1.0], np.float32)
    patches = animator.render(0, levels).astype(np.int16)
    rows, cols = _lip_area(animator, avatar)
    lip_diff = [float(np.abs(p[rows, cols] - original[rows, cols]).mean()) for p in patches]
    assert lip_diff[0] == 0.0
    assert lip_diff[-1] > 20.0
    assert all(b >= a for a, b in itertools.pairwise(lip_diff))
    # The mouth interior is dark: the open mouth darkens the lip area on average.
    assert patches[-1][rows, cols].mean() < original[rows, cols].mean() - 10
    # The warp fades out towards the patch border, so pasting leaves no seam.
    border = np.concatenate([patches[-1][0], patches[-1][-1], patches[-1][:, 0], patches[-1][:, -1]])
    ref = np.concatenate([original[0], original[-1], original[:, 0], original[:, -1]])
    np.testing.assert_array_equal(border, ref)


def test_render_is_deterministic(animator: MouthAnimator) -> None:
    levels = np.linspace(0, 1, 7, dtype=np.float32)
    np.testing.assert_array_equal(animator.render(5, levels), animator.render(5, levels))


def test_compose_touches_only_the_patch_box(animator: MouthAnimator, avatar: Avatar) -> None:
    x0, y0, x1, y1 = animator.patch_box
    patches = animator.render(0, np.array([1.0, 0.5], np.float32))
    frames = animator.compose(0, patches)
    assert frames.shape == (2, avatar.height, avatar.width, 3) and frames.dtype == np.uint8
    outside = np.ones((avatar.height, avatar.width), bool)
    outside[y0:y1, x0:x1] = False
    for frame, patch in zip(frames, patches):
        np.testing.assert_array_equal(frame[outside], avatar.frames[0][outside])
        np.testing.assert_array_equal(frame[y0:y1, x0:x1], patch)
    with pytest.raises(ValueError):
        animator.compose(0, patches[:, 1:])


def test_multi_frame_avatar_uses_ping_pong_frames(avatar: Avatar) -> None:
    frames = np.stack([np.clip(avatar.frames[0].astype(np.int16) + d, 0, 255).astype(np.uint8) for d in (0, 20, 40)])
    clip = Avatar("clip", "Clip", frames, avatar.faces * 3)
    animator = MouthAnimator(clip)
    x0, y0, x1, y1 = animator.patch_box
    patches = animator.render(3, np.zeros(2, np.float32))  # global 3, 4 -> avatar frames 1, 0
    np.testing.assert_array_equal(patches[0], frames[1, y0:y1, x0:x1])
    np.testing.assert_array_equal(patches[1], frames[0, y0:y1, x0:x1])
    composed = animator.compose(3, patches)
    np.testing.assert_array_equal(composed[0], frames[1])


def test_render_is_fast(animator: MouthAnimator) -> None:
    levels = np.linspace(0.05, 1.0, 25, dtype=np.float32)
    best = min(_timed(lambda: animator.render(0, levels)) for _ in range(5))
    logging.getLogger(__name__).info("render 25 frames: %.1f ms", best * 1000)
    assert best < 0.1


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def test_chunks_with_context_render_as_the_whole_job(animator: MouthAnimator) -> None:
    from models.lipsync.render import job_windows
    from models.speech.audio_chunks import plan_chunks

    audio, _ = _speech_like(60, seed=5)
    whole_window = next(job_windows(audio, plan_chunks(len(audio), SR, FPS, chunk_frames=60), FPS))
    whole = animator.render_chunk(whole_window)
    spans = plan_chunks(len(audio), SR, FPS, chunk_frames=7, first_chunk_frames=2)
    windows = list(job_windows(audio, spans, FPS))
    assert any(w.before and w.after for w in windows)
    streamed = np.concatenate([animator.render_chunk(w) for w in windows])
    np.testing.assert_array_equal(streamed, whole)
    levels = np.concatenate([animator.levels(w) for w in windows])
    np.testing.assert_array_equal(levels, animator.levels(whole_window))
    assert np.abs(np.diff(levels)).max() < 0.5  # smoothed: no frame-to-frame jumps


def test_silence_is_still_even_between_words(animator: MouthAnimator) -> None:
    from models.lipsync.render import AudioWindow

    audio, _ = _speech_like(40, seed=2)
    audio[10 * SPF:20 * SPF] = 0  # a pause
    level = animator.levels(AudioWindow(audio, 0, 0, 0, 40))
    assert np.all(level[13:17] == 0.0)  # deep in the pause: closed, no motion
    patches = animator.render(0, level)
    for k in range(13, 17):
        np.testing.assert_array_equal(patches[k], patches[13])


def test_bright_sounds_widen_and_dark_sounds_round_the_mouth(animator: MouthAnimator, avatar: Avatar) -> None:
    from models.lipsync.render import AudioWindow

    t = np.arange(20 * SPF) / SR
    dark = (8000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16)  # "oo"-like: energy low
    bright = (8000 * np.sin(2 * np.pi * 3000 * t)).astype(np.int16)  # "ee"/"s"-like: energy high
    silence = np.zeros(20 * SPF, np.int16)
    spread = {name: animator.spread(AudioWindow(a, 0, 0, 0, 20))[8:12].mean()
              for name, a in (("dark", dark), ("bright", bright), ("silence", silence))}
    assert spread["dark"] < -0.5 and spread["bright"] > 0.5 and spread["silence"] == 0.0
    opened = np.full(3, 0.8, np.float32)
    wide, neutral, round_ = (animator.render(0, opened, np.full(3, s, np.float32))[0] for s in (1.0, 0.0, -1.0))
    rows, cols = _lip_area(animator, avatar)
    assert np.abs(wide.astype(int) - neutral.astype(int))[rows, cols].mean() > 2.0
    assert np.abs(round_.astype(int) - neutral.astype(int))[rows, cols].mean() > 2.0
    for patch in (wide, round_):  # still seamless at the patch border
        np.testing.assert_array_equal(patch[0], neutral[0])
        np.testing.assert_array_equal(patch[:, -1], neutral[:, -1])
