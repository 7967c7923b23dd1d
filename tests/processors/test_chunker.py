"""The chunker stage: a request's checks and its Sentence records; the agent loop's verdicts on\nrequests that share a job_id."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from core.settings import ElevenLabsSettings
from processors.admission import Admission
from processors.chunker import chunker, plan_sentences
from processors.request_claims import read_request, refusal
from processors.settings import WorkerSettings
from processors.waiting_jobs import Waiting
from schemas.options import RenderOptions
from schemas.pipeline import Sentence
from schemas.requests import ScriptRequest
from schemas.status import JobState, StatusEvent
from tests.processors.stage_fake import FakeContext, FakeRecord

TEXT = ("Hello there. This is a test of the chunker, with a second sentence that goes on. "
        "And a third!")


def request(text: str = TEXT, voice_id: str = "piper:joe") -> ScriptRequest:
    return ScriptRequest(job_id="job-1", text=text, avatar_id="astro", voice_id=voice_id,
                         options=RenderOptions(fps=20, chunk_frames=30), submitted_at=12.5)


def test_sentences_are_numbered_in_order_with_their_neighbours() -> None:
    sentences = plan_sentences(request(), WorkerSettings(), avatar_exists=True)
    assert [s.text for s in sentences] == [
        "Hello there.", "This is a test of the chunker, with a second sentence that goes on.",
        "And a third!"]
    assert [s.seq for s in sentences] == [0, 1, 2] and {s.count for s in sentences} == {3}
    assert [s.previous_text for s in sentences] == [None, sentences[0].text, sentences[1].text]
    assert [s.next_text for s in sentences] == [sentences[1].text, sentences[2].text, None]
    job = sentences[0].job
    assert (job.job_id, job.avatar_id, job.voice_id, job.submitted_at) == ("job-1", "astro",
                                                                           "piper:joe", 12.5)
    assert job.options == RenderOptions(fps=20, chunk_frames=30)
    assert all(s.job == job for s in sentences)


def test_the_settings_bound_the_sentence_length() -> None:
    long = ", ".join(["one more clause"] * 30) + "."
    settings = WorkerSettings(max_sentence_chars=100, first_sentence_chars=30)
    sentences = plan_sentences(request(long), settings, avatar_exists=True)
    assert len(sentences) > 5 and len(sentences[0].text) <= 30
    assert max(len(s.text) for s in sentences) <= 100
    assert " ".join(s.text for s in sentences).split() == long.split()  # nothing lost


def test_unknown_avatar_or_voice_and_an_empty_script_are_refused() -> None:
    settings = WorkerSettings()
    with pytest.raises(LookupError, match="unknown avatar_id 'astro'"):
        plan_sentences(request(), settings, avatar_exists=False)
    with pytest.raises(LookupError, match="unknown voice_id 'piper:nobody'"):
        plan_sentences(request(voice_id="piper:nobody"), settings, avatar_exists=True)
    with pytest.raises(LookupError, match="unknown voice_id 'elevenlabs:rachel'"):
        plan_sentences(request(voice_id="elevenlabs:rachel"), settings, avatar_exists=True)
    with_key = dataclasses.replace(settings, elevenlabs=ElevenLabsSettings(api_key="k"))
    assert len(plan_sentences(request(voice_id="elevenlabs:rachel"), with_key, True)) == 3
    with pytest.raises(ValueError, match="no words to speak"):
        plan_sentences(request("... !!"), settings, avatar_exists=True)


# The agent loop: how requests for the same job_id are judged (processors/request_claims.py).

BODY = b'{"job_id": "job-1", "text": "Hello there. And a second one.", "avatar_id": "astro"}'


def _context(tmp_path: Path) -> FakeContext:
    ctx = FakeContext(tmp_path)
    path = ctx.store.avatar_dir("astro") / "avatar.json"
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    return ctx


async def _run(ctx: FakeContext, claims: dict[bytes, bytes], *records: FakeRecord) -> None:
    ctx.feed = list(records)
    admission = Admission(ctx.control.load, max_live=0)  # no limit: admission has tests of its own
    waiting = Waiting(ctx, admission, "chunker", {})  # type: ignore[arg-type]
    await chunker(ctx, claims, admission, waiting, None)  # type: ignore[arg-type]


def _sentences(ctx: FakeContext) -> list[tuple[str, int]]:
    return [(s.job.job_id, s.seq) for s in (Sentence.from_json(v) for _k, v in
                                             ctx.topics.sentences.sent)]


async def test_the_first_request_claims_its_job_id_and_runs(tmp_path: Path) -> None:
    ctx, claims = _context(tmp_path), {}
    await _run(ctx, claims, FakeRecord(b"job-1", BODY))
    digest = read_request(b"job-1", BODY).digest
    assert claims == {b"job-1": digest.encode()}
    assert _sentences(ctx) == [("job-1", 0), ("job-1", 1)]
    assert [r.state for r in ctx.reports] == [JobState.RUNNING]
    assert ctx.dead_letters == [] and ctx.failures == [] and ctx.topics.status.sent == []
    assert ctx.control.syncs == 1  # unclaimed: judged against the whole status topic
    assert ctx.app.producer.flushes == 2  # before reading the topic; the claim before the output


async def test_the_same_request_again_runs_again_until_its_job_is_final(tmp_path: Path) -> None:
    ctx, claims = _context(tmp_path), {}
    await _run(ctx, claims, FakeRecord(b"job-1", BODY), FakeRecord(b"job-1", BODY))
    assert _sentences(ctx) == [("job-1", 0), ("job-1", 1)] * 2  # downstream drops the repeats
    assert ctx.dead_letters == [] and ctx.control.syncs == 1
    ctx.control.events["job-1"] = StatusEvent(job_id="job-1", state=JobState.COMPLETED,
                                              stage="assembler", at=3.0)
    await _run(ctx, claims, FakeRecord(b"job-1", BODY))
    assert len(ctx.topics.sentences.sent) == 4 and len(ctx.reports) == 2  # skipped
    assert ctx.dead_letters == [] and ctx.topics.status.sent == []


async def test_another_request_for_a_taken_job_id_is_refused(tmp_path: Path) -> None:
    ctx, claims = _context(tmp_path), {}
    await _run(ctx, claims, FakeRecord(b"job-1", BODY))
    done = StatusEvent(job_id="job-1", state=JobState.COMPLETED, stage="assembler", at=3.0,
                       segments=5, message="final MP4 ready")
    ctx.control.events["job-1"] = done
    other = BODY.replace(b"Hello there.", b"Something else.")
    invalid = b'{"job_id": "job-1", "text": ""}'
    await _run(ctx, claims, FakeRecord(b"job-1", other), FakeRecord(b"job-1", invalid))
    assert len(ctx.topics.sentences.sent) == 2 and len(ctx.reports) == 1  # no work
    assert claims == {b"job-1": read_request(b"job-1", BODY).digest.encode()}
    reason = refusal("job-1", done, claimed=True)
    assert ctx.dead_letters == [(other, reason), (invalid, reason)]
    notices = [StatusEvent.from_json(v) for _k, v in ctx.topics.status.sent]
    assert [(n.state, n.stage, n.segments, n.message) for n in notices] == [
        (JobState.COMPLETED, "assembler", 5, reason)] * 2
    assert ctx.failures == []


async def test_a_job_the_status_topic_knows_is_not_taken_over(tmp_path: Path) -> None:
    """No claim here (an avatar training's id, a job from before claims), but started."""
    ctx, claims = _context(tmp_path), {}
    ctx.control.events["job-1"] = StatusEvent(job_id="job-1", state=JobState.RUNNING,
                                              stage="avatars", at=3.0, progress=0.5)
    await _run(ctx, claims, FakeRecord(b"job-1", BODY))
    assert claims == {} and ctx.topics.sentences.sent == [] and ctx.reports == []
    assert ctx.dead_letters == [(BODY, refusal("job-1", ctx.control.events["job-1"], False))]
    (notice_event,) = [StatusEvent.from_json(v) for _k, v in ctx.topics.status.sent]
    assert (notice_event.state, notice_event.stage, notice_event.progress) == (
        JobState.RUNNING, "avatars", 0.5)


async def test_a_queued_job_is_the_gateways_and_runs(tmp_path: Path) -> None:
    ctx, claims = _context(tmp_path), {}
    ctx.control.events["job-1"] = StatusEvent(job_id="job-1", state=JobState.QUEUED,
                                              stage="gateway", at=3.0)
    await _run(ctx, claims, FakeRecord(b"job-1", BODY))
    assert len(_sentences(ctx)) == 2 and b"job-1" in claims


async def test_an_invalid_request_fails_its_job_with_the_reason(tmp_path: Path) -> None:
    ctx, claims = _context(tmp_path), {}
    invalid = b'{"job_id": "job-1", "text": "Hi.", "colour": "red"}'
    await _run(ctx, claims, FakeRecord(b"job-1", invalid), FakeRecord(b"job-1", BODY))
    reason = "invalid request: colour: Extra inputs are not permitted"
    assert ctx.failures == [("job-1", f"chunker: ValueError: {reason}")]
    assert ctx.dead_letters[0] == (invalid, reason)
    # the failed job keeps its job_id: the valid request after it is refused
    assert ctx.dead_letters[1][0] == BODY and "that job is failed" in ctx.dead_letters[1][1]
    assert ctx.topics.sentences.sent == [] and ctx.reports == []


async def test_unreadable_records_only_go_to_the_dead_letters(tmp_path: Path) -> None:
    ctx, claims = _context(tmp_path), {}
    await _run(ctx, claims, FakeRecord(b"x", b'{"job_id": "x", "text": '),
               FakeRecord(b"bad id", b'{"job_id": "bad id", "text": ""}'))
    assert len(ctx.dead_letters) == 2 and ctx.failures == [] and claims == {}
    assert ctx.topics.status.sent == [] and ctx.reports == []


async def test_a_record_keyed_otherwise_fails_without_a_claim(tmp_path: Path) -> None:
    ctx, claims = _context(tmp_path), {}
    await _run(ctx, claims, FakeRecord(b"other", BODY))
    assert claims == {} and ctx.topics.sentences.sent == []
    (failure,) = ctx.failures
    assert failure[0] == "job-1" and "the record key b'other' is not the job_id" in failure[1]
    ctx.control.events.clear()  # a job of that id elsewhere is not taken over either
    ctx.control.events["job-1"] = StatusEvent(job_id="job-1", state=JobState.COMPLETED,
                                              stage="assembler", at=3.0)
    await _run(ctx, claims, FakeRecord(None, BODY))
    assert len(ctx.failures) == 1 and "refused" in ctx.dead_letters[-1][1]


async def test_a_claim_that_cannot_be_written_does_not_stop_the_job(tmp_path: Path) -> None:
    class Unwritable(dict[bytes, bytes]):
        def __setitem__(self, key: bytes, value: bytes) -> None:
            raise RuntimeError("changelog topic has 0 partitions")

    ctx = _context(tmp_path)
    await _run(ctx, Unwritable(), FakeRecord(b"job-1", BODY), FakeRecord(b"job-1", BODY))
    assert _sentences(ctx) == [("job-1", 0), ("job-1", 1)] * 2 and ctx.failures == []
