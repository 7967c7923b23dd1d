"""The lipsync stage: audio records read into windows, rendered patches into frame records, and
its renderers: the animator, or Wav2Lip from an official-format checkpoint (random weights),
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
from models.lipsync.mel import mel_basis
from models.lipsync.render import job_windows
from models.lipsync.wav2lip import Wav2Lip, save_checkpoint
from models.speech.audio_chunks import plan_chunks
from models.speech.tts_backend import Utterance
from processors.avatar_cache import AvatarCache
from processors.encoder import frame_chunk_meta
from processors.lipsync import Renderers, audio_window, frame_record
from processors.settings import LipsyncSettings, WorkerSettings
from processors.tts import spoken_sentence
from schemas.pipeline import AudioChunkMeta, JobRef, Sentence


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
    settings = LipsyncSettings(wav2lip_checkpoint=checkpoint, precision="fp32", max_batch_frames=16)
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


def test_warming_loads_the_engine_runs_its_batch_sizes_and_builds_the_avatars(avatar: Avatar,
                                                                              checkpoint: Path) -> None:
    built: list[str] = []

    def load(avatar_id: str) -> Avatar:
        built.append(avatar_id)
        return avatar

    settings = LipsyncSettings(wav2lip_checkpoint=checkpoint, precision="fp32", max_batch_frames=16)
    renderers = Renderers(settings, load)
    assert renderers.warm(["one"]) == 2  # a CPU: a full batch and a single frame
    engine = renderers.engine()
    # and the avatar's whole path once (one more pass): the mel filters are made by then
    assert engine is not None and engine.forward_passes == 3 and built == ["one"]
    assert mel_basis.cache_info().currsize == 1
    renderer = renderers.get("one")
    assert isinstance(renderer, Wav2LipRenderer) and built == ["one"]  # built once, by the warm-up
    assert renderers.engine() is engine  # the first job uses the warmed engine, loads none

    plain = Renderers(LipsyncSettings(), load)
    assert plain.warm(["two"]) == 0 and isinstance(plain.get("two"), MouthAnimator)


def audio_records(seed: int) -> list[tuple[AudioChunkMeta, bytes]]:
    """A one-sentence job's audio records as the tts stage writes them."""
    rng = np.random.default_rng(seed)
    speech = rng.normal(0, 3000, 40 * 640).astype(np.int16)
    sentence = Sentence(job=JobRef(job_id="j1", avatar_id="a", voice_id="piper:joe"), seq=0,
                        count=1, text="x")
    spoken = spoken_sentence(sentence, None, Utterance(speech, 16000), WorkerSettings())
    return [(r.meta, r.value) for r in spoken.audio]


def test_an_audio_record_reads_as_its_window() -> None:
    records = audio_records(4)
    assert len(records) >= 2
    for meta, value in records:
        window = audio_window(meta, value)
        pcm = np.frombuffer(value, dtype="<i2")
        assert window.before == meta.context_before_samples
        assert window.after == meta.context_after_samples
        assert (window.frame_start, window.n_frames) == (meta.frame_start, meta.n_frames)
        assert np.array_equal(window.own, pcm[window.before:window.before + meta.n_frames * 640])
    meta, value = records[0]
    with pytest.raises(ValueError, match="odd length"):
        audio_window(meta, value + b"\x00")
    with pytest.raises(ValueError, match="do not hold"):
        audio_window(meta, value[:-2])


def test_a_frame_record_holds_the_patches_then_the_chunks_audio_with_context(avatar: Avatar) -> None:
    renderers = Renderers(LipsyncSettings(), lambda _id: avatar)
    meta, value = audio_records(5)[1]
    window = audio_window(meta, value)
    [(box, patches)] = renderers.render([("a", window)])
    record = frame_record(meta, window, box, patches)
    out = record.meta
    assert (out.job, out.seq, out.frame_start, out.n_frames, out.is_last) == (
        meta.job, meta.seq, meta.frame_start, meta.n_frames, meta.is_last)
    assert out.box == box and out.patch_bytes == patches.nbytes
    assert record.value[:out.patch_bytes] == patches.tobytes()
    assert window.before > 0 and window.after > 0  # a middle chunk: context on both sides
    assert (out.context_before_samples, out.context_after_samples) == (window.before, window.after)
    assert record.value[out.patch_bytes:] == window.samples.astype("<i2").tobytes()
    assert frame_chunk_meta(out.to_headers(), record.value) == out  # what the encoder accepts


def test_after_a_failed_batch_each_chunk_fails_alone(avatar: Avatar) -> None:
    def load(avatar_id: str) -> Avatar:
        if avatar_id == "gone":
            raise FileNotFoundError(avatar_id)
        return avatar

    renderers = Renderers(LipsyncSettings(), load)
    items = [("a", _windows(0)[0]), ("gone", _windows(1)[0]), ("a", _windows(2)[1])]
    with pytest.raises(FileNotFoundError):
        renderers.render(items)
    got: list[tuple[int, object]] = []
    renderers.render_each(items, lambda k, result: got.append((k, result)))
    results = dict(got)
    assert sorted(results) == [0, 1, 2] and len(got) == 3  # each chunk answered once
    assert isinstance(results[1], FileNotFoundError)
    for item, result in zip([items[0], items[2]], [results[0], results[2]], strict=True):
        [(box, patches)] = renderers.render([item])
        assert not isinstance(result, Exception)
        assert result[0] == box and np.array_equal(result[1], patches)


def test_chunks_are_handed_on_one_by_one_in_order(avatar: Avatar) -> None:
    renderers = Renderers(LipsyncSettings(), lambda _id: avatar)
    items = [("a", _windows(seed)[0]) for seed in range(3)]
    got: list[int] = []
    renderers.render_each(items, lambda k, result: got.append(k))
    assert got == [0, 1, 2]


def test_renderers_are_built_on_the_shared_avatars(avatar: Avatar) -> None:
    loads: list[str] = []

    def load(avatar_id: str) -> Avatar:
        loads.append(avatar_id)
        return Avatar(avatar_id, "copy", avatar.frames.copy(), avatar.faces)

    shared: AvatarCache[Avatar] = AvatarCache(load, lambda a: a, capacity=2)
    renderers = Renderers(LipsyncSettings(), shared.get, capacity=2)
    renderer = renderers.get("a")
    assert isinstance(renderer, MouthAnimator) and renderer.avatar is shared.get("a")
    assert renderers.get("a") is renderer and loads == ["a"]  # one load for both users
