"""sentences -> audio chunks (+ captions): speech per sentence, cut into frame-aligned
chunks that carry the neighbouring audio the lip-sync model looks at.

Chunk numbers, frame offsets and the audio tail a later chunk needs as context
(including a sentence's last chunk, held until the next sentence's audio exists)
live in the `tts-cursor` Faust table, whose changelog is in Kafka (processors/tts_cursor.py).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

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
from processors.audio_pieces import piece_utterance
from processors.context import HeaderRecord, StageContext, superseded
from processors.settings import WorkerSettings
from processors.tts_cursor import AlreadyDone, NotYet, carry_from, cursor_after, starting_cursor
from schemas.options import AUDIO_SAMPLE_RATE_HZ, RenderOptions
from schemas.pipeline import AudioChunkMeta, CaptionChunk, JobRef, Sentence, TtsCursor, WordTiming
from schemas.status import JobState

STAGE = "tts"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TtsResources:
    voices: VoiceRegistry
    cursors: faust.Table  # job_id (bytes) -> TtsCursor JSON (bytes)


@dataclass(frozen=True)
class SpokenSentence:
    """What one sentence sends on, and the cursor the table keeps after it."""

    audio: list[HeaderRecord[AudioChunkMeta]]  # value: the chunk's int16 PCM with context
    captions: list[CaptionChunk]
    cursor: TtsCursor


def captions_for(job_id: str, utterance: Utterance, start_frame: int, fps: int,
                 chunks: list[PlannedChunk]) -> list[CaptionChunk]:
    """One caption record per new chunk; a word goes with the chunk it starts in."""
    offset_s = start_frame / fps
    by_seq: dict[int, list[WordTiming]] = {c.seq: [] for c in chunks}
    for word in utterance.words:
        start_s = word.start_s + offset_s
        owner = next((c for c in chunks if start_s < (c.frame_start + c.n_frames) / fps),
                     chunks[-1])
        end_s = max(word.end_s, word.start_s) + offset_s
        by_seq[owner.seq].append(WordTiming(text=word.text, start_s=round(start_s, 4),
                                            end_s=round(end_s, 4)))
    return [CaptionChunk(job_id=job_id, seq=seq, words=words) for seq, words in by_seq.items()]


def cut_sentence(carry: AudioCarry, seq: int, count: int | None, speech: np.ndarray,
                 options: RenderOptions, settings: WorkerSettings, *, starts: bool = False,
                 ends: bool = False) -> tuple[list[ReadyChunk], AudioCarry]:
    """Sentence ``seq`` of ``count``: its 16 kHz int16 speech as the job's next frame-aligned
    chunks with context, and the carry for the next sentence. The offline render cuts so too.
    A session's utterance cuts like a job of its own: short first chunk (``starts``), and
    its audio out to the end (``ends``) instead of waiting for the next utterance's."""
    fps = options.fps
    samples = frame_align(speech, AUDIO_SAMPLE_RATE_HZ, fps)
    if len(samples) == 0:  # nothing speakable: one silent frame keeps the job moving
        samples = np.zeros(AUDIO_SAMPLE_RATE_HZ // fps, dtype=np.int16)
    before = round(settings.tts_context_before_s * AUDIO_SAMPLE_RATE_HZ)
    after = round(settings.tts_context_after_s * AUDIO_SAMPLE_RATE_HZ)
    return cut_with_context(carry, seq, samples, AUDIO_SAMPLE_RATE_HZ, fps, options.chunk_frames,
                            options.first_chunk_frames if seq == 0 or starts else None, before, after,
                            final=count is not None and seq == count - 1, flush=ends)


def _audio_record(job: JobRef, item: ReadyChunk, is_last: bool) -> HeaderRecord[AudioChunkMeta]:
    c = item.chunk
    meta = AudioChunkMeta(job=job, seq=c.seq, sentence_seq=c.sentence_seq,
                          frame_start=c.frame_start, n_frames=c.n_frames,
                          sample_rate_hz=AUDIO_SAMPLE_RATE_HZ, is_last=is_last,
                          context_before_samples=item.before_samples,
                          context_after_samples=item.after_samples)
    return HeaderRecord(meta, item.payload.astype("<i2").tobytes())


def spoken_sentence(sentence: Sentence, start: TtsCursor | None, utterance: Utterance,
                    settings: WorkerSettings) -> SpokenSentence:
    """The audio and caption records of a synthesized sentence, from the cursor it started at."""
    job = sentence.job
    if utterance.sample_rate_hz != AUDIO_SAMPLE_RATE_HZ:
        raise ValueError(f"{job.voice_id} gave {utterance.sample_rate_hz} Hz, "
                         f"expected {AUDIO_SAMPLE_RATE_HZ}")
    carry = carry_from(start)
    ready, rest = cut_sentence(carry, sentence.seq, sentence.count, utterance.samples, job.options,
                               settings, starts=sentence.starts_utterance, ends=sentence.ends_utterance)
    final = sentence.is_last
    audio = [_audio_record(job, item, final and item.chunk.seq == rest.next_seq - 1)
             for item in ready]
    new = [c for c in [*(r.chunk for r in ready), *rest.held] if c.sentence_seq == sentence.seq]
    captions = captions_for(job.job_id, utterance, carry.next_frame, job.options.fps, new)
    return SpokenSentence(audio, captions, cursor_after(sentence.seq, carry, rest, start))


def _parse(event: faust.EventT) -> Sentence:
    return Sentence.from_json(event.value)


def spoken_s(cursors: faust.Table, sentence: Sentence) -> float:
    """Where the job's next sentence starts on its timeline: the audio spoken so far."""
    raw = cursors.get(sentence.job.job_id.encode())
    return TtsCursor.from_json(raw).frame_end / sentence.job.options.fps if raw else 0.0


async def tts(ctx: StageContext, resources: TtsResources, stream: faust.StreamT) -> None:
    # served by deadline across jobs (processors/schedule.py): a new job's first sentence
    # does not wait behind the whole scripts of the jobs before it
    position = functools.partial(spoken_s, resources.cursors)
    async for [(_event, sentence)] in ctx.scheduled(stream, STAGE, _parse, position,
                                                          job_of=lambda s: s.job):
        job = sentence.job
        key = job.job_id.encode()
        try:
            raw = resources.cursors.get(key)
            start = starting_cursor(sentence, TtsCursor.from_json(raw) if raw else None)
            if superseded(ctx, job):  # interrupted: its place on the timeline stays, silent
                utterance = Utterance(np.zeros(0, np.int16), AUDIO_SAMPLE_RATE_HZ)
                characters = {}
            elif sentence.audio is None:
                backend, voice = resources.voices.resolve(job.voice_id)
                ctx.metrics.tts_characters.labels(backend.prefix).inc(len(sentence.text))
                utterance = await backend.synthesize(voice, sentence.text, sentence.previous_text,
                                                     sentence.next_text)
                characters = {backend.prefix: len(sentence.text)}
            else:  # an audio job's piece: decoded, not spoken (processors/audio_pieces.py)
                utterance = await ctx.run_cpu(piece_utterance, ctx.store, sentence)
                characters = {}
            spoken = spoken_sentence(sentence, start, utterance, ctx.settings)
        except AlreadyDone:
            log.info("job %s sentence %d was done before; skipped", job.job_id, sentence.seq)
            continue
        except NotYet as exc:
            log.warning("job %s: %s; skipped until the sentences before it come again", job.job_id, exc)
            continue
        except Exception as exc:  # noqa: BLE001 - a voice or cursor failure fails this job only
            await ctx.fail(job.job_id, STAGE, exc, tenant=job.tenant)
            continue
        for record in spoken.audio:
            await ctx.send(ctx.topics.audio, job.job_id, record)
        for caption in spoken.captions:
            await ctx.topics.captions.send(key=key, value=caption.to_json())
        resources.cursors[key] = spoken.cursor.to_json()
        await ctx.account(job.job_id, STAGE, sentence.seq,
                          tts_characters=characters)
        if sentence.count is None:  # a session's: how many sentences it will have is unknown
            await ctx.report(job.job_id, STAGE, JobState.RUNNING, tenant=job.tenant,
                             message=f"spoke sentence {sentence.seq + 1}")
        else:
            await ctx.report(job.job_id, STAGE, JobState.RUNNING, tenant=job.tenant,
                             progress=round((sentence.seq + 1) / sentence.count, 4),
                             message=f"spoke sentence {sentence.seq + 1}/{sentence.count}")


def register(ctx: StageContext) -> None:
    settings = ctx.settings
    speaker = PiperSpeaker(out_rate_hz=AUDIO_SAMPLE_RATE_HZ,
                           deterministic=settings.tts_deterministic)
    voices = build_registry(PiperBackend(lambda: speaker, ctx.run_cpu), settings.elevenlabs)
    # bytes in, bytes out: the changelog holds exactly what was written (job_id keys aren't JSON)
    cursors = ctx.app.Table("tts-cursor", default=None, partitions=settings.kafka.partitions,
                            key_type=bytes, value_type=bytes)
    resources = TtsResources(voices, cursors)
    ctx.app.agent(ctx.topics.sentences, name=STAGE)(functools.partial(tts, ctx, resources))
