"""The tts stage's per-sentence work: speech cut into frame-aligned chunks with context, and the
audio and caption records of real Piper speech."""

from __future__ import annotations

import numpy as np
import pytest

from models.speech.audio_chunks import AudioCarry, PlannedChunk, ReadyChunk, frame_align
from models.speech.tts_backend import Utterance
from models.speech.tts_piper import PiperBackend, PiperSpeaker
from models.speech.word_timing import Word
from processors.settings import WorkerSettings
from processors.tts import captions_for, cut_sentence, spoken_sentence
from processors.tts_cursor import starting_cursor
from schemas.options import RenderOptions
from schemas.pipeline import JobRef, Sentence, TtsCursor

RATE, FPS, SPF = 16000, 25, 640
SETTINGS = WorkerSettings(tts_context_before_s=0.2, tts_context_after_s=0.25)
BEFORE, AFTER = 3200, 4000
OPTIONS = RenderOptions(fps=FPS, first_chunk_frames=10, chunk_frames=25)
TEXTS = ["Hello there, this is the first sentence.", "And this one follows it."]


@pytest.fixture(scope="module")
def speaker() -> PiperSpeaker:
    return PiperSpeaker(out_rate_hz=RATE, deterministic=True)


def test_captions_follow_the_job_timeline() -> None:
    chunks = [PlannedChunk(4, 2, 100, 10), PlannedChunk(5, 2, 110, 25)]
    words = [Word("one", 0.0, 0.3), Word("two", 0.35, 0.6), Word("three", 0.9, 1.2)]
    captions = captions_for("j1", Utterance(np.zeros(0, np.int16), RATE, words), 100, FPS, chunks)
    assert [c.seq for c in captions] == [4, 5]
    assert [w.text for w in captions[0].words] == ["one", "two"]
    assert captions[0].words[0].start_s == 4.0
    assert captions[1].words[0].start_s == pytest.approx(4.9)
    empty = captions_for("j1", Utterance(np.zeros(0, np.int16), RATE, []), 100, FPS, chunks)
    assert [c.words for c in empty] == [[], []]


def cut_job(speech: list[np.ndarray]) -> tuple[list[ReadyChunk], AudioCarry]:
    carry, out = AudioCarry(), []
    for seq, samples in enumerate(speech):
        ready, carry = cut_sentence(carry, seq, len(speech), samples, OPTIONS, SETTINGS)
        out += ready
    return out, carry


def test_cut_sentence_gives_frame_aligned_chunks_with_the_jobs_audio_around_them() -> None:
    rng = np.random.default_rng(3)
    lengths = (10 * SPF + 123, 3 * SPF, 61 * SPF - 7)  # not all whole frames
    speech = [rng.integers(-9000, 9000, n, dtype=np.int16) for n in lengths]
    job = np.concatenate([frame_align(s, RATE, FPS) for s in speech])
    chunks, carry = cut_job(speech)
    assert carry.held == () and carry.next_frame * SPF == len(job)  # the last sentence flushes all
    assert [r.chunk.seq for r in chunks] == list(range(len(chunks)))
    assert chunks[0].chunk.n_frames == 10 and max(r.chunk.n_frames for r in chunks) <= 25
    frame = 0
    for r in chunks:
        c = r.chunk
        assert c.frame_start == frame
        start, end = c.frame_start * SPF, (c.frame_start + c.n_frames) * SPF
        assert r.before_samples == min(BEFORE, start)
        assert r.after_samples == min(AFTER, len(job) - end)
        assert np.array_equal(r.payload, job[start - r.before_samples:end + r.after_samples])
        frame += c.n_frames


def test_an_empty_sentence_still_gives_one_silent_frame() -> None:
    [only], carry = cut_sentence(AudioCarry(), 0, 1, np.zeros(0, np.int16), OPTIONS, SETTINGS)
    assert only.chunk.n_frames == 1 and len(only.payload) == SPF and not only.payload.any()
    assert carry.next_frame == 1


async def test_spoken_sentences_give_records_the_next_stages_read(speaker: PiperSpeaker) -> None:
    backend = PiperBackend(lambda: speaker)
    job = JobRef(job_id="j1", avatar_id="a", voice_id="piper:joe", options=OPTIONS)
    utterances = [await backend.synthesize("joe", text) for text in TEXTS]
    stored: bytes | None = None
    audio, captions = [], []
    for seq, utterance in enumerate(utterances):
        sentence = Sentence(job=job, seq=seq, count=len(TEXTS), text=TEXTS[seq])
        start = starting_cursor(sentence, TtsCursor.from_json(stored) if stored else None)
        spoken = spoken_sentence(sentence, start, utterance, SETTINGS)
        audio += spoken.audio
        captions += spoken.captions
        stored = spoken.cursor.to_json()  # through the table's form, as the stage keeps it

    metas = [r.meta for r in audio]
    assert [m.seq for m in metas] == list(range(len(metas))) and len(metas) >= 3
    assert [m.is_last for m in metas] == [False] * (len(metas) - 1) + [True]
    assert {m.sample_rate_hz for m in metas} == {RATE} and {m.job for m in metas} == {job}
    own = []
    for r in audio:
        m = r.meta
        pcm = np.frombuffer(r.value, dtype="<i2")
        assert len(pcm) == m.context_before_samples + m.n_frames * SPF + m.context_after_samples
        own.append(pcm[m.context_before_samples:m.context_before_samples + m.n_frames * SPF])
    spoken_audio = np.concatenate([frame_align(u.samples, RATE, FPS) for u in utterances])
    assert np.array_equal(np.concatenate(own), spoken_audio)

    assert sorted(c.seq for c in captions) == [m.seq for m in metas]  # one caption per chunk
    words = [w for c in sorted(captions, key=lambda c: c.seq) for w in c.words]
    assert [w.text for w in words] == [w.text for u in utterances for w in u.words]
    starts = [w.start_s for w in words]
    assert starts == sorted(starts) and starts[-1] < len(spoken_audio) / RATE
    cursor = TtsCursor.from_json(stored)
    assert cursor.sentence_seq == 1 and cursor.frame_end * SPF == len(spoken_audio)


def test_speech_at_another_rate_is_refused() -> None:
    sentence = Sentence(job=JobRef(job_id="j1", avatar_id="a", voice_id="piper:joe"), seq=0,
                        count=1, text="x")
    with pytest.raises(ValueError, match="gave 22050 Hz, expected 16000"):
        spoken_sentence(sentence, None, Utterance(np.zeros(2205, np.int16), 22050), SETTINGS)
