"""Streaming cutter: chunks with context equal an offline cut of the whole job's audio."""

from __future__ import annotations

import numpy as np
import pytest

from models.speech.audio_chunks import AudioCarry, ReadyChunk, cut_with_context

RATE, FPS = 16000, 25
SPF = RATE // FPS


def stream(sentence_frames: list[int], rng: np.random.Generator, chunk_frames: int, first: int | None,
           before: int, after: int) -> tuple[np.ndarray, list[ReadyChunk], list[int]]:
    """Feed sentences one by one; return the job audio, every chunk out, and chunks out per sentence."""
    audio = rng.integers(-30000, 30000, sum(sentence_frames) * SPF, dtype=np.int16)
    carry, out, per_sentence, pos = AudioCarry(), [], [], 0
    for k, n in enumerate(sentence_frames):
        ready, carry = cut_with_context(carry, k, audio[pos:pos + n * SPF], RATE, FPS, chunk_frames,
                                        first if k == 0 else None, before, after,
                                        final=k == len(sentence_frames) - 1)
        out.extend(ready)
        per_sentence.append(len(ready))
        pos += n * SPF
    return audio, out, per_sentence


@pytest.mark.parametrize("seed", range(40))
def test_stream_equals_offline_cut(seed: int) -> None:
    rng = np.random.default_rng(seed)
    sentence_frames = [int(x) for x in rng.choice([1, 2, 3, 7, 12, 25, 40, 61], rng.integers(1, 7))]
    chunk_frames, first = int(rng.integers(1, 30)), int(rng.integers(1, 12))
    before, after = int(rng.integers(0, 8000)), int(rng.integers(0, 8000))
    audio, out, _ = stream(sentence_frames, rng, chunk_frames, first, before, after)

    assert [c.chunk.seq for c in out] == list(range(len(out)))
    own = [c.payload[c.before_samples:len(c.payload) - c.after_samples] for c in out]
    assert np.array_equal(np.concatenate(own), audio)  # sample for sample, nothing lost or repeated
    frame = 0
    for c in out:
        assert c.chunk.frame_start == frame and len(own[c.chunk.seq]) == c.chunk.n_frames * SPF
        start, end = frame * SPF, (frame + c.chunk.n_frames) * SPF
        assert c.before_samples == min(before, start) and c.after_samples == min(after, len(audio) - end)
        assert np.array_equal(c.payload, audio[start - c.before_samples:end + c.after_samples])
        frame += c.chunk.n_frames
    # Chunks never straddle a sentence boundary, and the first one is short.
    bounds = set(np.cumsum(sentence_frames).tolist())
    ends = {c.chunk.frame_start + c.chunk.n_frames for c in out}
    assert bounds <= ends
    assert out[0].chunk.n_frames == min(first, sentence_frames[0])


def test_only_the_tail_waits_for_the_next_sentence() -> None:
    _, out, per_sentence = stream([50, 50], np.random.default_rng(1), 25, 10, 3200, 4000)
    # 10 + 25 frames are out at once; the last 15 frames need 0.25 s of sentence 2.
    assert per_sentence == [2, 3]
    assert [c.chunk.sentence_seq for c in out] == [0, 0, 0, 1, 1]


def test_redelivery_from_the_same_carry_is_identical() -> None:
    rng = np.random.default_rng(2)
    samples = rng.integers(-100, 100, 30 * SPF, dtype=np.int16)
    first, carry = cut_with_context(AudioCarry(), 0, samples, RATE, FPS, 25, 10, 3200, 4000, False)
    again, carry_again = cut_with_context(AudioCarry(), 0, samples, RATE, FPS, 25, 10, 3200, 4000, False)
    assert [c.chunk for c in first] == [c.chunk for c in again]
    assert carry.held == carry_again.held and np.array_equal(carry.samples, carry_again.samples)


def test_rejects_unaligned_audio() -> None:
    with pytest.raises(ValueError, match="frame"):
        cut_with_context(AudioCarry(), 0, np.zeros(SPF + 1, np.int16), RATE, FPS, 25, None, 0, 0, True)
