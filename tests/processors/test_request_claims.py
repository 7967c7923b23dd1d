"""Reading a request record, its digest, and the verdict on a request for a job_id that may be
taken already."""

from __future__ import annotations

import orjson
import pytest
from pydantic import ValidationError

from processors.request_claims import judge, notice, read_request, refusal, request_digest
from schemas.requests import ScriptRequest
from schemas.status import JobState, StatusEvent

BODY = b'{"job_id": "job-1", "text": "Hello there.", "submitted_at": 12.5}'


def status(state: JobState, **fields: object) -> StatusEvent:
    return StatusEvent(job_id="job-1", state=state, stage="assembler", at=5.0, **fields)


def test_a_valid_request_keyed_by_its_job_id() -> None:
    incoming = read_request(b"job-1", BODY)
    assert incoming.request == ScriptRequest(job_id="job-1", text="Hello there.", submitted_at=12.5)
    assert (incoming.job_id, incoming.problem, incoming.keyed) == ("job-1", None, True)
    assert incoming.digest == request_digest(incoming.request)


def test_the_digest_is_of_the_content_not_the_bytes() -> None:
    spelt_out = orjson.dumps({"submitted_at": 12.5, "avatar_id": "astronaut",
                              "text": "Hello there.", "job_id": "job-1"})
    assert read_request(b"job-1", spelt_out).digest == read_request(b"job-1", BODY).digest
    later = BODY.replace(b"12.5", b"13.5")
    other_text = BODY.replace(b"Hello", b"Bye")
    digests = {read_request(b"job-1", body).digest for body in (BODY, later, other_text)}
    assert len(digests) == 3


@pytest.mark.parametrize(("body", "reason"), [
    (b'{"job_id": "job-1", "text": ""}', "text: Value error, text is empty or whitespace only"),
    (b'{"job_id": "job-1", "text": "Hi.", "colour": "red"}', "colour: Extra inputs are not permitted"),
    (b'{"job_id": "job-1", "text": 5}', "text: Input should be a valid string"),
    (b'{"job_id": "job-1"}', "body: Value error, give either text or audio_upload, not both or neither"),
    (b'{"job_id": "job-1", "text": "Hi.", "audio_upload": "source"}',
     "body: Value error, give either text or audio_upload, not both or neither"),
    (b'{"job_id": "job-1", "audio_upload": "../x"}', "audio_upload: String should match pattern '^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$'"),
])
def test_an_invalid_body_with_a_usable_job_id_names_the_job(body: bytes, reason: str) -> None:
    incoming = read_request(b"job-1", body)
    assert (incoming.job_id, incoming.request, incoming.keyed) == ("job-1", None, True)
    assert incoming.problem == f"invalid request: {reason}"
    assert len(incoming.digest) == 64 and incoming.digest != read_request(b"job-1", BODY).digest


@pytest.mark.parametrize("body", [
    b'{"job_id": "job-1", "text": ',  # not JSON
    b'["job-1"]',  # not an object
    b'{"text": ""}',  # no job_id
    b'{"job_id": 7, "text": ""}',
    b'{"job_id": "has space", "text": ""}',  # off the pattern: never a status key
    b'{"job_id": "job-1\\n", "text": ""}',  # the pattern's $ would let a newline through
    b'{"job_id": "../etc", "text": "Hi."}',
])
def test_without_a_usable_job_id_the_record_is_unreadable(body: bytes) -> None:
    with pytest.raises((ValueError, ValidationError)):
        read_request(b"job-1", body)


def test_a_record_keyed_otherwise_cannot_run() -> None:
    for key in (b"other", None):
        incoming = read_request(key, BODY)
        assert incoming.request is not None and not incoming.keyed
        assert incoming.problem == (f"the record key {key!r} is not the job_id 'job-1' "
                                    "(requests must be keyed by their job_id)")
    invalid = read_request(b"other", b'{"job_id": "job-1", "text": ""}')
    assert invalid.problem is not None and invalid.problem.startswith("invalid request: text")
    assert invalid.problem.endswith("(requests must be keyed by their job_id)")


def test_verdicts() -> None:
    mine, other = "a" * 64, "b" * 64
    # an unclaimed job_id runs, unless the status topic knows it as started or finished
    assert judge(None, mine, None) == "run"
    assert judge(None, mine, status(JobState.QUEUED)) == "run"  # the gateway announced it
    for state in (JobState.RUNNING, JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED):
        assert judge(None, mine, status(state)) == "refuse"
    # the claiming request again runs again (at-least-once) until its job is final
    assert judge(mine, mine, None) == "run"
    assert judge(mine, mine, status(JobState.RUNNING)) == "run"
    for state in (JobState.COMPLETED, JobState.FAILED, JobState.CANCELLED):
        assert judge(mine, mine, status(state)) == "skip"
    # another request for a claimed job_id never runs
    for latest in (None, status(JobState.RUNNING), status(JobState.COMPLETED)):
        assert judge(other, mine, latest) == "refuse"


def test_a_notice_keeps_the_job_as_it_is() -> None:
    done = status(JobState.COMPLETED, segments=4, video_duration_s=2.5, message="final MP4 ready")
    reason = refusal("job-1", done, claimed=True)
    assert reason == ("refused a request for job_id 'job-1': the job_id belongs to another "
                      "request and that job is completed; the request was not run")
    assert refusal("job-1", status(JobState.CANCELLED), claimed=False) == (
        "refused a request for job_id 'job-1': that job is cancelled; the request was not run")
    event = notice(done, "job-1", reason, at=9.0)
    assert event == done.model_copy(update={"message": reason, "at": 9.0})
    assert (event.state, event.stage, event.segments) == (JobState.COMPLETED, "assembler", 4)
    unseen = notice(None, "job-1", refusal("job-1", None, claimed=True), at=9.0)
    assert (unseen.state, unseen.stage, unseen.job_id) == (JobState.RUNNING, "chunker", "job-1")
    assert "that job is started" in str(unseen.message)
