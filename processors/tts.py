"""sentences -> audio chunks (+ captions): speech per sentence, cut into frame-aligned
chunks that carry the neighbouring audio the lip-sync model looks at.

Chunk numbers, frame offsets and the audio tail a later chunk needs as context
(including a sentence's last chunk, held until the next sentence's audio exists)
live in the `tts-cursor` Faust table, whose changelog is in Kafka. Each entry
also keeps the cursor it started from, so a redelivered sentence is redone from
the same place with the same numbers.
"""

from __future__ import annotations

import base64
import logging

import faust
import numpy as np

from core.voices import build_registry
from models.speech.audio_chunks import (
    AudioCarry,
    PlannedChunk,
    ReadyChunk,
    cut_with_context,
    frame_align,
)
from models.speech.tts_backend import Utterance, VoiceRegistry
from models.speech.tts_piper import PiperBackend, PiperSpeaker
from processors.context import StageContext
from schemas.options import AUDIO_SAMPLE_RATE_HZ
from schemas.pipeline import (
    AudioChunkMeta,
    CaptionChunk,
    HeldChunk,
    Sentence,
    TtsCursor,
    WordTiming,
)
from schemas.status import JobState

STAGE = "tts"
log = logging.getLogger(__name__)


class _AlreadyDone(Exception):
    """A redelivered sentence older than the cursor: its chunks are out already."""


def _starting_cursor(sentence: Sentence, stored: TtsCursor | None) -> TtsCursor | None:
    if stored is not None and stored.sentence_seq == sentence.seq:
        return stored.prior  # redelivery: start again from where this sentence started
    if stored is not None and stored.sentence_seq == sentence.seq - 1:
        return stored
    if stored is None and sentence.seq == 0:
        return None
    if stored is not None and stored.sentence_seq > sentence.seq:
        raise _AlreadyDone
    raise RuntimeError(f"sentence {sentence.seq} arrived but the cursor is at "
                       f"{None if stored is None else stored.sentence_seq}")


def _carry(cursor: TtsCursor | None) -> AudioCarry:
    if cursor is None:
        return AudioCarry()
    samples = np.frombuffer(base64.b64decode(cursor.carry_pcm_b64), dtype="<i2").astype(np.int16)
    held = tuple(PlannedChunk(h.seq, h.sentence_seq, h.frame_start, h.n_frames) for h in cursor.held)
    return AudioCarry(cursor.carry_start_sample, samples, held, cursor.chunk_end, cursor.frame_end)


def _cursor(seq: int, start: AudioCarry, carry: AudioCarry, prior: TtsCursor | None) -> TtsCursor:
    return TtsCursor(
        sentence_seq=seq, chunk_start=start.next_seq, frame_start=start.next_frame,
        chunk_end=carry.next_seq, frame_end=carry.next_frame, carry_start_sample=carry.start_sample,
        carry_pcm_b64=base64.b64encode(carry.samples.astype("<i2").tobytes()).decode(),
        held=[HeldChunk(seq=h.seq, sentence_seq=h.sentence_seq, frame_start=h.frame_start,
                        n_frames=h.n_frames) for h in carry.held],
        prior=None if prior is None else prior.model_copy(update={"prior": None}))


def _captions(job_id: str, utterance: Utterance, start_frame: int, fps: int,
              chunks: list[PlannedChunk]) -> list[CaptionChunk]:
    """One caption record per new chunk; a word goes with the chunk it starts in."""
    offset_s = start_frame / fps
    by_seq: dict[int, list[WordTiming]] = {c.seq: [] for c in chunks}
    for word in utterance.words:
        start_s = word.start_s + offset_s
        owner = next((c for c in chunks if start_s < (c.frame_start + c.n_frames) / fps), chunks[-1])
        by_seq[owner.seq].append(WordTiming(text=word.text, start_s=round(start_s, 4),
                                            end_s=round(max(word.end_s, word.start_s) + offset_s, 4)))
    return [CaptionChunk(job_id=job_id, seq=seq, words=words) for seq, words in by_seq.items()]


def register(ctx: StageContext) -> None:
    settings = ctx.settings
    speaker = PiperSpeaker(out_rate_hz=AUDIO_SAMPLE_RATE_HZ, deterministic=settings.tts_deterministic)
    voices: VoiceRegistry = build_registry(PiperBackend(lambda: speaker, ctx.run_cpu), settings.elevenlabs)
    # bytes in, bytes out: the changelog must hold exactly what was written (job_id keys are not JSON)
    cursors = ctx.app.Table("tts-cursor", default=None, partitions=settings.kafka.partitions,
                            key_type=bytes, value_type=bytes)
    before = round(settings.tts_context_before_s * AUDIO_SAMPLE_RATE_HZ)
    after = round(settings.tts_context_after_s * AUDIO_SAMPLE_RATE_HZ)

    def parse(event: faust.EventT) -> Sentence:
        return Sentence.from_json(event.value)

    async def speak(sentence: Sentence, start: TtsCursor | None) -> tuple[list[ReadyChunk], AudioCarry,
                                                                          Utterance, AudioCarry]:
        job = sentence.job
        backend, voice = voices.resolve(job.voice_id)
        utterance = await backend.synthesize(voice, sentence.text, sentence.previous_text, sentence.next_text)
        if utterance.sample_rate_hz != AUDIO_SAMPLE_RATE_HZ:
            raise ValueError(f"{job.voice_id} gave {utterance.sample_rate_hz} Hz, expected {AUDIO_SAMPLE_RATE_HZ}")
        fps = job.options.fps
        samples = frame_align(utterance.samples, AUDIO_SAMPLE_RATE_HZ, fps)
        if len(samples) == 0:  # nothing speakable: one silent frame keeps the job moving
            samples = np.zeros(AUDIO_SAMPLE_RATE_HZ // fps, dtype=np.int16)
        carry = _carry(start)
        ready, rest = cut_with_context(
            carry, sentence.seq, samples, AUDIO_SAMPLE_RATE_HZ, fps, job.options.chunk_frames,
            job.options.first_chunk_frames if sentence.seq == 0 else None, before, after,
            final=sentence.seq == sentence.count - 1)
        return ready, rest, utterance, carry

    async def tts(stream: faust.StreamT) -> None:
        async for _event, sentence in ctx.records(stream, STAGE, parse):
            job = sentence.job
            key = job.job_id.encode()
            try:
                raw = cursors.get(key)
                start = _starting_cursor(sentence, TtsCursor.from_json(raw) if raw else None)
                ready, rest, utterance, carry = await speak(sentence, start)
            except _AlreadyDone:
                log.info("job %s sentence %d was done before; skipped", job.job_id, sentence.seq)
                continue
            except Exception as exc:
                await ctx.fail(job.job_id, STAGE, exc)
                continue
            final = sentence.seq == sentence.count - 1
            for item in ready:
                c = item.chunk
                meta = AudioChunkMeta(job=job, seq=c.seq, sentence_seq=c.sentence_seq, frame_start=c.frame_start,
                                      n_frames=c.n_frames, sample_rate_hz=AUDIO_SAMPLE_RATE_HZ,
                                      is_last=final and c.seq == rest.next_seq - 1,
                                      context_before_samples=item.before_samples,
                                      context_after_samples=item.after_samples)
                await ctx.topics.audio.send(key=key, value=item.payload.astype("<i2").tobytes(),
                                            headers=meta.to_headers())
            new = [c for c in [*(r.chunk for r in ready), *rest.held] if c.sentence_seq == sentence.seq]
            for caption in _captions(job.job_id, utterance, carry.next_frame, job.options.fps, new):
                await ctx.topics.captions.send(key=key, value=caption.to_json())
            cursors[key] = _cursor(sentence.seq, carry, rest, start).to_json()
            await ctx.report(job.job_id, STAGE, JobState.RUNNING,
                             progress=round((sentence.seq + 1) / sentence.count, 4),
                             message=f"spoke sentence {sentence.seq + 1}/{sentence.count}")

    ctx.app.agent(ctx.topics.sentences, name=STAGE)(tts)
