"""requests -> sentences: one script request becomes its sentences, in order.

A request is judged first (processors/request_claims.py): the first one for a job_id
claims it in the `request-claims` table; the same request again runs again (at-least-once),
another one for a taken job_id is refused, and an invalid one with a usable job_id fails
its job with the reason. Every refused or invalid record also goes to the dead letters.

A valid request starts its job only when admission gives it a slot (processors/admission.py);
until then it is held, in line, and its job says so (processors/waiting_jobs.py).
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

import faust

from core.voices import is_known_voice
from models.speech.sentences import split_sentences
from processors.admission import Admission
from processors.audio_pieces import plan_audio_pieces
from processors.context import StageContext
from processors.request_claims import IncomingRequest, Verdict, judge, notice, read_request, refusal
from processors.settings import WorkerSettings
from processors.waiting_jobs import Waiting, waiting_table
from schemas.pipeline import JobRef, Sentence
from schemas.requests import ScriptRequest
from schemas.status import JobState, StatusEvent

STAGE = "chunker"
ADMIT_EVERY_S = 0.5
log = logging.getLogger(__name__)


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
    pieces = split_sentences(request.text or "", max_chars=settings.max_sentence_chars,
                             first_max_chars=settings.first_sentence_chars,
                             max_script_chars=settings.max_script_chars)
    if not pieces:
        raise ValueError("the script has no words to speak")
    job = JobRef(job_id=request.job_id, avatar_id=request.avatar_id, voice_id=request.voice_id,
                 options=request.options, submitted_at=request.submitted_at, tenant=request.tenant,
                 priority=request.priority)
    return [Sentence(job=job, seq=seq, count=len(pieces), text=text,
                     previous_text=pieces[seq - 1] if seq else None,
                     next_text=pieces[seq + 1] if seq + 1 < len(pieces) else None)
            for seq, text in enumerate(pieces)]


def _parse(event: faust.EventT) -> IncomingRequest:
    return read_request(event.key if isinstance(event.key, bytes) else None, event.value)


async def _judge(ctx: StageContext, claims: faust.Table,
                 incoming: IncomingRequest) -> tuple[Verdict, str | None, StatusEvent | None]:
    """The verdict on a request, from its job_id's claim and what the status topic says;
    with the claim and the job's latest event it was judged by."""
    raw = claims.get(incoming.job_id.encode()) if incoming.keyed else None
    claim = None if raw is None else raw.decode()
    if claim != incoming.digest:  # maybe a reuse: judge by every event, this worker's too
        await ctx.app.producer.flush()
        await ctx.control.sync()
    latest = ctx.control.latest(incoming.job_id)
    return judge(claim, incoming.digest, latest), claim, latest


async def chunker(ctx: StageContext, claims: faust.Table, admission: Admission, waiting: Waiting,
                  stream: faust.StreamT) -> None:
    async for event, incoming in ctx.records(stream, STAGE, _parse, skip_stopped=False):
        job_id = incoming.job_id
        verdict, claim, latest = await _judge(ctx, claims, incoming)
        if verdict == "skip":
            log.info("request for job %s seen before and the job is final; skipped", job_id)
            continue
        if verdict == "refuse":
            reason = refusal(job_id, latest, claimed=claim is not None)
            await ctx.dead_letter(event, STAGE, reason)
            await ctx.topics.status.send(key=job_id.encode(),
                                         value=notice(latest, job_id, reason, time.time()).to_json())
            continue
        if incoming.keyed and claim is None:
            try:
                claims[job_id.encode()] = incoming.digest.encode()
            except Exception:  # run unclaimed; its status still guards the job_id
                log.exception("job %s: could not claim its job_id", job_id)
            await ctx.app.producer.flush()  # the claim is in Kafka before anything of the job
        request = incoming.request
        if request is None or incoming.problem is not None:  # read_request said why
            problem = incoming.problem or "invalid request"
            await ctx.dead_letter(event, STAGE, problem)
            await ctx.fail(job_id, STAGE, ValueError(problem))
            continue
        sentences = await _plan(ctx, request)
        if sentences is None:
            continue
        if not admission.may_start(job_id, request.priority, time.time()):
            await waiting.hold(request, event.message.partition)
            continue
        await _start(ctx, request, sentences)
        if waiting.holds(job_id):  # held before, and this is the request again
            waiting.drop(job_id)


async def _plan(ctx: StageContext, request: ScriptRequest) -> list[Sentence] | None:
    """The job's sentences; None once a request that cannot run has failed its job."""
    job_id = request.job_id
    try:
        exists = ctx.store.has_avatar(request.avatar_id)
        if request.audio_upload is None:
            return plan_sentences(request, ctx.settings, exists)
        # an audio job: pieces of its file instead of sentences (processors/audio_pieces.py)
        path = ctx.store.job_audio_path(job_id, request.audio_upload)
        return await ctx.run_cpu(plan_audio_pieces, request, path, ctx.settings.audio_max_s, exists)
    except (LookupError, ValueError) as exc:
        await ctx.fail(job_id, STAGE, exc, tenant=request.tenant, webhook_url=request.webhook_url)
        return None


async def _start(ctx: StageContext, request: ScriptRequest, sentences: list[Sentence]) -> None:
    job_id = request.job_id
    fields: dict[str, Any] = {
        "progress": 0.0, "tenant": request.tenant, "sentences": len(sentences),
        "avatar_id": request.avatar_id, "voice_id": request.voice_id,
        "text_chars": len(request.text or ""), "created_at": request.submitted_at,
        "message": "split into sentences", "webhook_url": request.webhook_url,
        "priority": request.priority}
    await ctx.report(job_id, STAGE, JobState.RUNNING, **fields)
    for sentence in sentences:
        await ctx.topics.sentences.send(key=job_id.encode(), value=sentence.to_json())


def register(ctx: StageContext) -> None:
    # bytes in, bytes out: the changelog holds exactly what was written (job_id keys aren't JSON)
    claims = ctx.app.Table("request-claims", default=None, partitions=ctx.settings.kafka.partitions,
                           key_type=bytes, value_type=bytes)
    admission = Admission(ctx.control.load, ctx.settings.max_live_jobs)
    waiting = Waiting(ctx, admission, STAGE, waiting_table(ctx))
    ctx.app.agent(ctx.topics.requests, name=STAGE)(functools.partial(chunker, ctx, claims, admission, waiting))

    @ctx.app.timer(ADMIT_EVERY_S)
    async def _admit() -> None:
        if ctx.app.rebalancing:
            return
        await admit_waiting(ctx, admission, waiting)


async def admit_waiting(ctx: StageContext, admission: Admission, waiting: Waiting) -> None:
    """Starts the held jobs whose turn it is, first come first; tells the others their place."""
    for held in waiting.owned():
        request = held.request
        job_id = request.job_id
        if ctx.control.is_stopped(job_id):  # cancelled (or failed) while it waited
            waiting.drop(job_id)
            continue
        if not admission.may_start(job_id, request.priority, time.time()):
            await waiting.tell(request, held.queued_at)
            continue
        sentences = await _plan(ctx, request)  # the avatar may have gone while it waited
        if sentences is not None:
            await _start(ctx, request, sentences)
        await ctx.app.producer.flush()  # its sentences are in Kafka before it leaves the table
        waiting.drop(job_id)
