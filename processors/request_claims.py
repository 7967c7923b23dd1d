"""Which request owns each job_id, and what the chunker does with one that reuses it.

The first request the chunker takes for a job_id claims it: the `request-claims` table
(job_id -> the request's digest, both raw bytes; changelog in Kafka) keeps its digest. The
same request again (a redelivery after a crash, or a producer's retry of the same content
and submitted_at) runs as usual, so delivery stays at-least-once; once its job is final it
is skipped. Any other request for a claimed job_id, or for a job the status topic already
knows beyond queued (an avatar training's id, a job older than the table), is refused: the
job keeps its state, and the refusal shows as a dead letter, a log line and the job's
status message. The table sees every request for a job_id only if each is keyed by its
job_id (the key picks the partition), so a record keyed otherwise never runs.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal

import orjson
from pydantic import ValidationError

from schemas.base import JOB_ID_PATTERN
from schemas.requests import ScriptRequest
from schemas.status import JobState, StatusEvent

_JOB_ID = re.compile(JOB_ID_PATTERN)
Verdict = Literal["run", "skip", "refuse"]


@dataclass(frozen=True)
class IncomingRequest:
    """A requests-topic record with a usable job_id, valid or not."""

    job_id: str
    digest: str  # sha256 hex: of the request's canonical JSON, or of the bytes of an invalid one
    request: ScriptRequest | None  # None when the body is invalid
    problem: str | None  # why it cannot run: an invalid body, a key that is not its job_id
    keyed: bool  # keyed by its job_id, so on the partition that owns the job's claim


def request_digest(request: ScriptRequest) -> str:
    """The same for the same content however it was serialized (key order, defaults spelt
    out or left out); a different submitted_at makes a different request."""
    body = request.model_dump(mode="json")
    if body.get("audio_upload") is None:  # a text job digests as before audio jobs existed
        body.pop("audio_upload", None)
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()


def describe_invalid(exc: ValidationError) -> str:
    """One line per problem, 'field: message', without pydantic's links."""
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or 'body'}: {err['msg']}"
                     for err in exc.errors())


def read_request(key: bytes | None, value: bytes) -> IncomingRequest:
    """Raises (so the record only goes to the dead letters) when the body has no job_id that
    could name a job: not JSON, not an object, or a job_id off the schema's pattern."""
    body = orjson.loads(value)
    request: ScriptRequest | None = None
    problems: list[str] = []
    try:
        request = ScriptRequest.model_validate(body)
        job_id, digest = request.job_id, request_digest(request)
    except ValidationError as exc:
        found = body.get("job_id") if isinstance(body, dict) else None
        if not (isinstance(found, str) and _JOB_ID.fullmatch(found)):
            raise
        job_id, digest = found, hashlib.sha256(value).hexdigest()
        problems.append(f"invalid request: {describe_invalid(exc)}")
    keyed = key == job_id.encode()
    if not keyed:
        problems.append(f"the record key {key!r} is not the job_id {job_id!r} "
                        "(requests must be keyed by their job_id)")
    return IncomingRequest(job_id, digest, request, "; ".join(problems) or None, keyed)


def judge(claim: str | None, digest: str, latest: StatusEvent | None) -> Verdict:
    """What to do with a request, given the digest that claimed its job_id (None: unclaimed,
    or a record keyed otherwise) and the job's latest status event.

    A queued job is one the gateway announced before its request came: still unclaimed.
    """
    if claim is not None:
        if claim != digest:
            return "refuse"
        return "skip" if latest is not None and latest.state.final else "run"
    if latest is None or latest.state is JobState.QUEUED:
        return "run"
    return "refuse"


def refusal(job_id: str, latest: StatusEvent | None, claimed: bool) -> str:
    """Why a request was refused; `claimed`: another request holds the job_id's claim."""
    state = "started" if latest is None else latest.state.value
    whose = "the job_id belongs to another request and " if claimed else ""
    return (f"refused a request for job_id {job_id!r}: {whose}that job is {state}; "
            "the request was not run")


def notice(latest: StatusEvent | None, job_id: str, message: str, at: float) -> StatusEvent:
    """The job's latest event again, with the refusal as its message: its state and fields
    stay (and stay the last word of the compacted topic), only the message says more."""
    if latest is None:  # claimed here, but no event of it read yet: it is at least running
        return StatusEvent(job_id=job_id, state=JobState.RUNNING, stage="chunker", at=at,
                           message=message)
    return latest.model_copy(update={"message": message, "at": at})
