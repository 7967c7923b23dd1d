"""Producers that write straight to the requests topic get answers on the real broker: an
invalid request fails its job with the reason, a reused job_id is refused without touching
its job, and the same request twice is one job."""

from __future__ import annotations

import uuid
from pathlib import Path

from aiokafka import ConsumerRecord

from cli.stack import Stack
from models.media.assemble import probe
from schemas.pipeline import DeadLetterMeta, SegmentMeta, Sentence
from schemas.requests import ScriptRequest
from tests.e2e.gateway_util import final_status, job_status, poll, wait_for_video
from tests.e2e.kafka_util import processed, produce, read_topic


def _job_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def _dead_letter(stack: Stack, value: bytes) -> DeadLetterMeta:
    """The record's dead letter (the first, as a redelivery after a rebalance repeats it)."""
    found = await read_topic(stack, stack.topics.deadletter, lambda r: r.value == value,
                             until=lambda f: len(f) >= 1)
    return DeadLetterMeta.from_headers(found[0].headers)


async def _sentences_of(stack: Stack, job_id: str) -> list[Sentence]:
    """Every sentence the chunker sent for the job, up to the topic's end now."""
    records = await read_topic(stack, stack.topics.sentences, lambda r: r.key == job_id.encode())
    return [Sentence.from_json(r.value) for r in records]


async def test_an_invalid_request_with_a_job_id_fails_with_the_reason(stack: Stack) -> None:
    cases = {  # body fields besides job_id -> what the job's error says
        '"text": ""': "text: Value error, text is empty or whitespace only",
        '"text": "Hi.", "colour": "red"': "colour: Extra inputs are not permitted",
        '"text": 5': "text: Input should be a valid string",
        '"text": "Hi\\u0000there."': "text: Value error, control character U+0000 at index 2 is not allowed "
                                      "(only tab, line feed and carriage return are)",
    }
    jobs = {_job_id("invalid"): (fields, reason) for fields, reason in cases.items()}
    bodies = {job_id: f'{{"job_id": "{job_id}", {fields}}}'.encode()
              for job_id, (fields, _reason) in jobs.items()}
    unusable = b'{"job_id": "has space", "text": ""}'  # no job it could name: dead letter only
    await produce(stack, stack.topics.requests,
                  [(job_id.encode(), body, None) for job_id, body in bodies.items()]
                  + [(b"has space", unusable, None)])
    for job_id, (_fields, reason) in jobs.items():
        status = await final_status(stack.url, job_id, timeout_s=60)
        assert status["state"] == "failed", status
        assert status["error"] == f"chunker: ValueError: invalid request: {reason}", status
        letter = await _dead_letter(stack, bodies[job_id])
        assert (letter.stage, letter.reason) == ("chunker", f"invalid request: {reason}")
        assert await _sentences_of(stack, job_id) == []
    letter = await _dead_letter(stack, unusable)
    assert letter.source_topic == stack.topics.requests and "job_id" in letter.reason


async def test_a_record_keyed_otherwise_fails_and_says_why(stack: Stack) -> None:
    job_id = _job_id("rekeyed")
    body = ScriptRequest(job_id=job_id, text="Keyed by something else.").to_json()
    await produce(stack, stack.topics.requests, [(b"some-other-key", body, None)])
    status = await final_status(stack.url, job_id, timeout_s=60)
    assert status["state"] == "failed"
    assert f"the record key b'some-other-key' is not the job_id '{job_id}'" in str(status["error"])
    assert "keyed by their job_id" in (await _dead_letter(stack, body)).reason
    assert await _sentences_of(stack, job_id) == []


async def test_a_reused_job_id_of_a_completed_job_is_refused(stack: Stack, tmp_path: Path) -> None:
    job_id = _job_id("reused")
    first = ScriptRequest(job_id=job_id, text="The first request owns this job.").to_json()
    await produce(stack, stack.topics.requests, [(job_id.encode(), first, None)])
    video = tmp_path / "first.mp4"
    await wait_for_video(stack.url, job_id, video)
    before = await job_status(stack.url, job_id)
    assert before is not None and before["state"] == "completed"
    sentences = await _sentences_of(stack, job_id)

    second = ScriptRequest(job_id=job_id, text="A second request, a different script.").to_json()
    ((partition, offset), (_p, again)) = await produce(
        stack, stack.topics.requests, [(job_id.encode(), second, None), (job_id.encode(), first, None)])
    await processed(stack, stack.topics.requests, partition, again)  # both are judged

    letter = await _dead_letter(stack, second)
    assert letter.stage == "chunker" and letter.offset == offset
    assert letter.reason == (f"refused a request for job_id '{job_id}': the job_id belongs to "
                             "another request and that job is completed; the request was not run")
    # the first request once more, after its job completed: skipped, no dead letter
    assert await read_topic(stack, stack.topics.deadletter, lambda r: r.value == first) == []
    after = await poll(lambda: _refusal_shown(stack.url, job_id), 30)
    assert after["state"] == "completed" and after["message"] == letter.reason
    for name in ("segments", "video_duration_s", "audio_duration_s", "avatar_id", "voice_id"):
        assert after[name] == before[name], name
    assert await _sentences_of(stack, job_id) == sentences  # the new request did no work
    again_video = tmp_path / "again.mp4"
    await wait_for_video(stack.url, job_id, again_video)
    assert again_video.read_bytes() == video.read_bytes()
    log = (stack.data_dir / "logs" / "worker.log").read_text(errors="replace")
    assert any(job_id in line and "refused" in line for line in log.splitlines())


async def _refusal_shown(base_url: str, job_id: str) -> dict[str, object] | None:
    status = await job_status(base_url, job_id)
    return status if status is not None and "refused" in str(status.get("message")) else None


def _end_markers(records: list[ConsumerRecord]) -> list[ConsumerRecord]:
    return [r for r in records if SegmentMeta.from_headers(r.headers).kind == "end"]


async def test_the_same_request_twice_is_one_job(stack: Stack, tmp_path: Path) -> None:
    """One sentence, so the copy's sentence is spoken again with the same numbers and its
    segments and end marker reach the assembler as repeats."""
    text = "The same request, produced twice."
    reference_id, job_id = _job_id("once"), _job_id("twice")
    body = ScriptRequest(job_id=job_id, text=text, submitted_at=1700000000.0).to_json()
    reference = ScriptRequest(job_id=reference_id, text=text).to_json()
    await produce(stack, stack.topics.requests,
                  [(reference_id.encode(), reference, None),
                   (job_id.encode(), body, None), (job_id.encode(), body, None)])
    once, twice = tmp_path / "once.mp4", tmp_path / "twice.mp4"
    await wait_for_video(stack.url, reference_id, once)
    await wait_for_video(stack.url, job_id, twice)

    seqs = [s.seq for s in await _sentences_of(stack, job_id)]
    assert len(seqs) >= 2 and set(seqs) == {0}, seqs  # both copies ran (more after a rebalance)
    ends = _end_markers(await read_topic(
        stack, stack.topics.segments, lambda r: r.key == job_id.encode(),
        until=lambda found: len(_end_markers(found)) >= 2))
    await processed(stack, stack.topics.segments, ends[-1].partition, ends[-1].offset)
    status = await job_status(stack.url, job_id)
    assert status is not None and status["state"] == "completed", status
    assert "refused" not in str(status["message"])
    got, want = probe(twice), probe(once)
    assert got.video_frames == want.video_frames > 10
    assert abs(got.audio_duration_s - want.audio_duration_s) < 1e-3
    again = tmp_path / "again.mp4"
    await wait_for_video(stack.url, job_id, again)
    assert again.read_bytes() == twice.read_bytes()  # the repeats changed nothing
