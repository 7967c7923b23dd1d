"""requests -> sentences: one script request becomes its sentences, in order."""

from __future__ import annotations

import functools

import faust

from core.voices import is_known_voice
from models.speech.sentences import split_sentences
from processors.context import StageContext
from processors.settings import WorkerSettings
from schemas.pipeline import JobRef, Sentence
from schemas.requests import ScriptRequest
from schemas.status import JobState

STAGE = "chunker"


def plan_sentences(request: ScriptRequest, settings: WorkerSettings,
                   avatar_exists: bool) -> list[Sentence]:
    """The request's Sentence records in order, each with its neighbours' text.

    Raises LookupError for an unknown avatar or voice, ValueError for a script with
    nothing to speak: the request's fault, so the job fails.
    """
    if not avatar_exists:
        raise LookupError(f"unknown avatar_id {request.avatar_id!r}")
    if not is_known_voice(request.voice_id, settings.elevenlabs):
        raise LookupError(f"unknown voice_id {request.voice_id!r}")
    pieces = split_sentences(request.text, max_chars=settings.max_sentence_chars,
                             first_max_chars=settings.first_sentence_chars,
                             max_script_chars=settings.max_script_chars)
    if not pieces:
        raise ValueError("the script has no words to speak")
    job = JobRef(job_id=request.job_id, avatar_id=request.avatar_id, voice_id=request.voice_id,
                 options=request.options, submitted_at=request.submitted_at)
    return [Sentence(job=job, seq=seq, count=len(pieces), text=text,
                     previous_text=pieces[seq - 1] if seq else None,
                     next_text=pieces[seq + 1] if seq + 1 < len(pieces) else None)
            for seq, text in enumerate(pieces)]


def _parse(event: faust.EventT) -> ScriptRequest:
    return ScriptRequest.from_json(event.value)


async def chunker(ctx: StageContext, stream: faust.StreamT) -> None:
    async for _event, request in ctx.records(stream, STAGE, _parse):
        try:
            exists = ctx.store.has_avatar(request.avatar_id)
            sentences = plan_sentences(request, ctx.settings, exists)
        except (LookupError, ValueError) as exc:
            await ctx.fail(request.job_id, STAGE, exc)
            continue
        await ctx.report(request.job_id, STAGE, JobState.RUNNING, progress=0.0,
                         sentences=len(sentences), avatar_id=request.avatar_id,
                         voice_id=request.voice_id, text_chars=len(request.text),
                         created_at=request.submitted_at, message="split into sentences")
        for sentence in sentences:
            await ctx.topics.sentences.send(key=request.job_id.encode(), value=sentence.to_json())


def register(ctx: StageContext) -> None:
    ctx.app.agent(ctx.topics.requests, name=STAGE)(functools.partial(chunker, ctx))
