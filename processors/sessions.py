"""session-input -> sentences: a live session's messages become sentences on its timeline.

Part of the chunker stage (both turn what a client says into sentences). Each session's
state (SessionState: its job, next sentence number, text waiting for a boundary, epoch,
the last input offset applied) lives in the `session-state` table, changelogged in Kafka,
so whichever worker owns the partition next goes on where this one stopped; a redelivered
record (offset at or below the one applied) is skipped. A timer closes sessions idle
longer than their timeout by writing an `idle` message to the topic, so that closing goes
through the same agent, in order with the session's other input.
"""

from __future__ import annotations

import functools
import logging
import time

import faust

from processors.context import StageContext
from processors.session_steps import Refused, Splitting, Step, apply
from schemas.sessions import SESSION_STAGE, SessionIdle, SessionInputRecord, SessionState
from schemas.status import JobState

STAGE = SESSION_STAGE
IDLE_CHECK_S = 0.5
log = logging.getLogger(__name__)


def _parse(event: faust.EventT) -> tuple[SessionInputRecord, int]:
    record = SessionInputRecord.from_json(event.value)
    if event.key != record.session_id.encode():
        raise ValueError(f"a session-input record must be keyed by its session_id {record.session_id!r}")
    return record, event.message.offset


async def _report(ctx: StageContext, state: SessionState, step: Step) -> None:
    job = state.job
    await ctx.report(job.job_id, STAGE, JobState.RUNNING, tenant=job.tenant, message=step.message,
                     epoch=step.epoch, avatar_id=job.avatar_id, voice_id=job.voice_id,
                     created_at=job.submitted_at, sentences=state.next_seq if step.ended else None)


async def sessions(ctx: StageContext, table: faust.Table, stream: faust.StreamT) -> None:
    split = Splitting(ctx.settings.max_sentence_chars, ctx.settings.first_sentence_chars)
    async for event, (record, offset) in ctx.records(stream, STAGE, _parse):
        key = record.session_id.encode()
        raw = table.get(key)
        state = None if raw is None else SessionState.from_json(raw)
        if state is not None and offset <= state.last_offset:
            log.info("session %s: input at offset %d applied before; skipped", record.session_id, offset)
            continue
        try:
            step = apply(state, record.message, record.session_id, offset, time.time(), split)
        except Refused as exc:
            await ctx.dead_letter(event, STAGE, str(exc))
            continue
        if step is None:
            continue
        if step.epoch is not None:  # every stage silences the old epoch's records from now on
            ctx.control.note_epoch(record.session_id, step.epoch)
        if step.message is not None:
            await _report(ctx, step.state, step)
        if step.epoch is not None:
            await ctx.app.producer.flush()  # the epoch is out before the sentence that cuts it
        for sentence in step.sentences:
            await ctx.topics.sentences.send(key=key, value=sentence.to_json())
        table[key] = step.state.to_json()


async def close_idle(ctx: StageContext, table: faust.Table, asked: dict[str, float]) -> None:
    """Asks for every idle session of this worker's partitions to be closed, once each
    (`asked`: session id -> the last `say` it was asked for)."""
    now = time.time()
    for key, raw in list(table.items()):
        state = SessionState.from_json(raw)
        session_id = state.job.job_id
        if state.ended or ctx.control.is_stopped(session_id):
            asked.pop(session_id, None)
            continue
        if now - state.last_say_at > state.idle_timeout_s and asked.get(session_id) != state.last_say_at:
            asked[session_id] = state.last_say_at
            record = SessionInputRecord(session_id=session_id, sent_at=now,
                                        message=SessionIdle(last_say_at=state.last_say_at))
            await ctx.topics.session_input.send(key=key, value=record.to_json())


def register(ctx: StageContext) -> None:
    # bytes in, bytes out: the changelog holds exactly what was written
    table = ctx.app.Table("session-state", default=None, partitions=ctx.settings.kafka.partitions,
                          key_type=bytes, value_type=bytes)
    ctx.app.agent(ctx.topics.session_input, name=STAGE)(functools.partial(sessions, ctx, table))
    asked: dict[str, float] = {}  # idle records this process sent; a repeat would be harmless

    @ctx.app.timer(IDLE_CHECK_S)
    async def _idle() -> None:
        await close_idle(ctx, table, asked)
