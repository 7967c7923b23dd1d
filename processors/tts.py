"""sentences -> audio chunks: speech per sentence, cut into frame-aligned chunks.

Chunk numbers and frame offsets run across the whole job. They depend on every
earlier sentence's length, so the running position lives in a Faust table whose
changelog is in Kafka, keyed by job and recorded per sentence (idempotent on
redelivery).
"""

from __future__ import annotations

import logging

import faust
import numpy as np

from models.audio_chunks import frame_align, plan_chunks
from models.tts_piper import PiperSpeaker
from processors.context import StageContext
from schemas.options import AUDIO_SAMPLE_RATE_HZ
from schemas.pipeline import AudioChunkMeta, Sentence, TtsCursor
from schemas.status import JobState

STAGE = "tts"
log = logging.getLogger(__name__)


def _start_of(sentence: Sentence, cursor: TtsCursor | None) -> tuple[int, int]:
    """(chunk_start, frame_start) for this sentence, given the job's last cursor."""
    if cursor is not None and cursor.sentence_seq == sentence.seq:
        return cursor.chunk_start, cursor.frame_start  # redelivery: same numbers again
    if cursor is not None and cursor.sentence_seq == sentence.seq - 1:
        return cursor.chunk_end, cursor.frame_end
    if sentence.seq == 0:
        return 0, 0
    raise RuntimeError(f"sentence {sentence.seq} arrived but the cursor is at {cursor}")


def register(ctx: StageContext) -> None:
    speaker = PiperSpeaker(out_rate_hz=AUDIO_SAMPLE_RATE_HZ,
                           deterministic=ctx.settings.tts_deterministic)
    cursors = ctx.app.Table("tts-cursor", default=None, partitions=ctx.settings.kafka.partitions)

    def parse(event: faust.EventT) -> Sentence:
        return Sentence.from_json(event.value)

    async def tts(stream: faust.StreamT) -> None:
        async for _event, sentence in ctx.records(stream, STAGE, parse):
            job = sentence.job
            key = job.job_id.encode()
            try:
                raw = cursors.get(key)
                chunk_seq, frame_start = _start_of(sentence, TtsCursor.from_json(raw) if raw else None)
                speech = await ctx.run_cpu(speaker.synthesize, sentence.text)
                fps = job.options.fps
                samples = frame_align(speech.samples, speech.sample_rate_hz, fps)
                if len(samples) == 0:  # nothing speakable: one silent frame keeps the job moving
                    samples = np.zeros(speech.sample_rate_hz // fps, dtype=np.int16)
                first = job.options.first_chunk_frames if sentence.seq == 0 else None
                spans = plan_chunks(len(samples), speech.sample_rate_hz, fps,
                                    chunk_frames=job.options.chunk_frames, first_chunk_frames=first)
            except Exception as exc:
                await ctx.fail(job.job_id, STAGE, exc)
                continue
            last_sentence = sentence.seq == sentence.count - 1
            cursor = TtsCursor(sentence_seq=sentence.seq, chunk_start=chunk_seq, frame_start=frame_start,
                               chunk_end=chunk_seq + len(spans),
                               frame_end=frame_start + sum(s.n_frames for s in spans))
            for i, span in enumerate(spans):
                meta = AudioChunkMeta(job=job, seq=chunk_seq + i, sentence_seq=sentence.seq,
                                      frame_start=frame_start, n_frames=span.n_frames,
                                      sample_rate_hz=speech.sample_rate_hz,
                                      is_last=last_sentence and i == len(spans) - 1)
                pcm = samples[span.start_sample:span.start_sample + span.n_samples]
                await ctx.topics.audio.send(key=key, value=pcm.astype("<i2").tobytes(),
                                            headers=meta.to_headers())
                frame_start += span.n_frames
            cursors[key] = cursor.to_json()
            await ctx.report(job.job_id, STAGE, JobState.RUNNING,
                             progress=round((sentence.seq + 1) / sentence.count, 4),
                             message=f"spoke sentence {sentence.seq + 1}/{sentence.count}")

    ctx.app.agent(ctx.topics.sentences, name=STAGE)(tts)
