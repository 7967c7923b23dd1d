"""The tts stage's state per job, as the `tts-cursor` Faust table holds it.

A cursor names the last sentence spoken, the chunk numbers and frames it took,
and the audio tail later chunks need as context (with the chunks held for audio
after them). It also keeps the cursor its sentence started from, so a
redelivered sentence is redone from the same place with the same numbers.
"""

from __future__ import annotations

import base64

import numpy as np

from models.speech.audio_chunks import AudioCarry, PlannedChunk
from schemas.pipeline import HeldChunk, Sentence, TtsCursor


class AlreadyDone(Exception):
    """A redelivered sentence older than the cursor: its chunks are out already."""


class NotYet(Exception):
    """A sentence ahead of the cursor. A job's sentences share one partition and come in
    order, so the ones between were lost on their way to the stage after a rebalance; the
    delivery watchdog seeks the partition back and they come again, this one after them."""


def starting_cursor(sentence: Sentence, stored: TtsCursor | None) -> TtsCursor | None:
    """The cursor this sentence starts from; AlreadyDone for an older redelivery, NotYet
    when sentences are missing in between."""
    if stored is not None and stored.sentence_seq == sentence.seq:
        return stored.prior  # redelivery: start again from where this sentence started
    if stored is not None and stored.sentence_seq == sentence.seq - 1:
        return stored
    if stored is None and sentence.seq == 0:
        return None
    if stored is not None and stored.sentence_seq > sentence.seq:
        raise AlreadyDone
    raise NotYet(f"sentence {sentence.seq} arrived but the cursor is at "
                 f"{None if stored is None else stored.sentence_seq}")


def carry_from(cursor: TtsCursor | None) -> AudioCarry:
    if cursor is None:
        return AudioCarry()
    samples = np.frombuffer(base64.b64decode(cursor.carry_pcm_b64), dtype="<i2").astype(np.int16)
    held = tuple(PlannedChunk(h.seq, h.sentence_seq, h.frame_start, h.n_frames)
                 for h in cursor.held)
    return AudioCarry(cursor.carry_start_sample, samples, held, cursor.chunk_end, cursor.frame_end)


def cursor_after(seq: int, start: AudioCarry, carry: AudioCarry,
                 prior: TtsCursor | None) -> TtsCursor:
    """The cursor once sentence ``seq`` took the job from ``start`` (``prior``'s carry) to
    ``carry``."""
    return TtsCursor(
        sentence_seq=seq, chunk_start=start.next_seq, frame_start=start.next_frame,
        chunk_end=carry.next_seq, frame_end=carry.next_frame, carry_start_sample=carry.start_sample,
        carry_pcm_b64=base64.b64encode(carry.samples.astype("<i2").tobytes()).decode(),
        held=[HeldChunk(seq=h.seq, sentence_seq=h.sentence_seq, frame_start=h.frame_start,
                        n_frames=h.n_frames) for h in carry.held],
        prior=None if prior is None else prior.model_copy(update={"prior": None}))
