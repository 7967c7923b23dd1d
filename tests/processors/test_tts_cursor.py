"""The tts stage's state as it lives in the Faust table: carry through JSON, redelivery."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from models.speech.audio_chunks import cut_with_context
from processors.tts_cursor import AlreadyDone, NotYet, carry_from, cursor_after, starting_cursor
from schemas.pipeline import JobRef, Sentence, TtsCursor

RATE, FPS, SPF = 16000, 25, 640
JOB = JobRef(job_id="j1", avatar_id="a", voice_id="piper:joe")


def sentence(seq: int, count: int) -> Sentence:
    return Sentence(job=JOB, seq=seq, count=count, text="x")


def run(frames: list[int], audio: np.ndarray, redeliver: int | None = None) -> list[tuple[int, int, bytes, int]]:
    """The stage's loop without Kafka: every cursor goes through its JSON form, like the table."""
    stored: bytes | None = None
    out: list[tuple[int, int, bytes, int]] = []
    pos = 0
    order = list(range(len(frames)))
    if redeliver is not None:
        order.insert(redeliver + 1, redeliver)
    offsets = np.concatenate([[0], np.cumsum(frames)]) * SPF
    for k in order:
        s = sentence(k, len(frames))
        try:
            start = starting_cursor(s, TtsCursor.from_json(stored) if stored else None)
        except AlreadyDone:
            continue
        carry = carry_from(start)
        pos = offsets[k]
        ready, rest = cut_with_context(carry, k, audio[pos:pos + frames[k] * SPF], RATE, FPS, 25,
                                       10 if k == 0 else None, 3200, 4000, final=k == len(frames) - 1)
        out.extend((r.chunk.seq, r.chunk.frame_start, r.payload.tobytes(), r.before_samples) for r in ready)
        stored = cursor_after(k, carry, rest, start).to_json()
    return out


@pytest.mark.parametrize("redeliver", [None, 0, 1, 2])
def test_table_round_trip_and_redelivery_give_the_same_chunks(redeliver: int | None) -> None:
    frames = [30, 3, 44, 12]
    audio = np.random.default_rng(5).integers(-9000, 9000, sum(frames) * SPF, dtype=np.int16)
    clean = run(frames, audio)
    again = run(frames, audio, redeliver)
    assert sorted(set(again)) == sorted(set(clean))  # duplicates are exact repeats, never new numbers
    assert [c[0] for c in clean] == list(range(len(clean)))
    own = [p[2 * before:] for _, _, p, before in clean]
    assert b"".join(o[:2 * n] for o, n in zip(own, sizes(clean, frames), strict=True)) == audio.tobytes()


def sizes(chunks: list[tuple[int, int, bytes, int]], frames: list[int]) -> list[int]:
    """Own samples per chunk, from consecutive frame starts."""
    starts = [f for _, f, _, _ in chunks] + [sum(frames)]
    return [(b - a) * SPF for a, b in itertools.pairwise(starts)]


def test_older_redelivery_is_skipped_and_a_sentence_past_a_gap_waits() -> None:
    cursor = TtsCursor(sentence_seq=3, chunk_start=5, frame_start=90, chunk_end=7, frame_end=120)
    with pytest.raises(AlreadyDone):
        starting_cursor(sentence(1, 6), cursor)
    with pytest.raises(NotYet, match="sentence 5 arrived but the cursor is at 3"):
        starting_cursor(sentence(5, 6), cursor)
    with pytest.raises(NotYet, match="cursor is at None"):
        starting_cursor(sentence(2, 6), None)
