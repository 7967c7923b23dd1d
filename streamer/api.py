"""HTTP handlers: submit a script, read a job's status, download its MP4."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any, TypeVar

import orjson
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from core.voices import is_known_voice
from core.webhook_targets import WebhookTargetError
from schemas.base import DEFAULT_TENANT, JOB_ID_PATTERN, Message, Priority
from schemas.http import ErrorBody, GenerateRequest, GenerateResponse, JobStatus
from schemas.requests import ScriptRequest
from schemas.sessions import SessionRequest
from schemas.status import JobState, StatusEvent
from streamer.disk import low_space
from streamer.files import file_response
from streamer.owners import AVATARS, VOICES, Owners
from streamer.state import GatewayState
from streamer.tenants import Caller, caller, visible
from streamer.tickets import UrlSigner, signer_for
from streamer.webhook_urls import webhook_for

MAX_BODY_BYTES = 256 * 1024
MAX_OFFSET = 10**9
_JOB_ID = re.compile(JOB_ID_PATTERN)
M = TypeVar("M", bound=Message)


class ApiError(Exception):
    """Raised by handlers' helpers; the app turns it into an ErrorBody response."""

    def __init__(self, status_code: int, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.status_code, self.message, self.detail = status_code, message, detail


def json_response(body: Message, status_code: int = 200) -> Response:
    return Response(body.to_json(), status_code=status_code, media_type="application/json")


def error(status_code: int, message: str, detail: Any = None) -> Response:
    return json_response(ErrorBody(error=message, detail=detail), status_code)


def gateway(request: Request) -> GatewayState:
    return request.app.state.gateway  # type: ignore[no-any-return]


def job_id_of(request: Request) -> str:
    """The path's job id, checked before it names anything on disk or in Kafka."""
    job_id = str(request.path_params["job_id"])
    if not _JOB_ID.match(job_id):
        raise ApiError(400, "invalid job id: 1-64 of A-Z a-z 0-9 _ - (not starting with _ or -)")
    return job_id


def is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/")
                                                 and media_type.endswith("+json"))


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    """A query integer in [low, high]: 400 when it is not one; every list endpoint checks alike."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer") from None
    if not low <= value <= high:
        raise ApiError(400, f"{name} must be between {low} and {high}")
    return value


async def read_model(request: Request, model: type[M], max_bytes: int) -> M:
    """The body as `model`: 415 unless it says it is JSON (a cross-site form cannot), 413 when
    too large, 400 when not JSON, 422 when invalid."""
    if not is_json(request.headers.get("content-type", "")):
        raise ApiError(415, "the body must be JSON, with Content-Type: application/json")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ApiError(413, f"request body over {max_bytes} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > max_bytes:
            raise ApiError(413, f"request body over {max_bytes} bytes")
    try:
        return model.model_validate(orjson.loads(bytes(body)))
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "request body is not valid JSON", str(exc)) from None
    except ValidationError as exc:
        detail = orjson.loads(exc.json(include_url=False, include_input=False))
        raise ApiError(422, "invalid request", detail) from None


def with_urls(status: JobStatus, signer: UrlSigner | None = None) -> JobStatus:
    """With `signer` (keys are checked), the video URL is signed: it downloads without a key."""
    if status.state is JobState.COMPLETED:
        path = f"/api/v1/video/{status.job_id}"
        return status.model_copy(update={"video_url": path if signer is None else signer.signed_url(path)})
    return status


def check_request(state: GatewayState, payload: GenerateRequest | SessionRequest,
                  who: Caller | None = None) -> None:
    """404 for an avatar or voice that does not exist, or that is another tenant's."""
    owners = Owners(state.store.root)
    if not state.store.has_avatar(payload.avatar_id) or (
            who is not None and not who.sees(owners.get(AVATARS, payload.avatar_id))):
        raise ApiError(404, f"unknown avatar_id {payload.avatar_id!r}")
    if not is_known_voice(payload.voice_id, state.settings.elevenlabs) or (
            who is not None and not who.sees(owners.get(VOICES, payload.voice_id))):
        raise ApiError(404, f"unknown voice_id {payload.voice_id!r}")


async def with_webhook(request: Request, payload: GenerateRequest, field: str = "webhook_url") -> GenerateRequest:
    """The payload with the webhook its job reports to (streamer/webhook_urls.py); 422 when
    that URL may not be one."""
    try:
        url = await webhook_for(gateway(request).settings, caller(request).tenant,
                                payload.webhook_url)
    except WebhookTargetError as exc:
        raise ApiError(422, str(exc), {"field": field}) from None
    return payload if url == payload.webhook_url else payload.model_copy(update={"webhook_url": url})


def require_space(state: GatewayState) -> None:
    """507 while the media volume is below its free-space threshold (streamer/disk.py)."""
    if (reason := low_space(state)) is not None:
        raise ApiError(507, reason, {"min_free_mb": state.settings.min_free_mb})


async def accept(state: GatewayState, payload: GenerateRequest, tenant: str = DEFAULT_TENANT,
                 priority: Priority = "live") -> GenerateResponse:
    """Queues one job for `tenant`: its QUEUED status first (so it is listed at once), then the
    request. `priority` is the request's unless it names none."""
    priority = payload.priority or priority
    job_id = uuid.uuid4().hex
    now = time.time()
    queued = StatusEvent(job_id=job_id, state=JobState.QUEUED, stage="gateway", at=now, progress=0.0,
                         avatar_id=payload.avatar_id, voice_id=payload.voice_id,
                         text_chars=len(payload.text), created_at=now, message="accepted", tenant=tenant,
                         webhook_url=payload.webhook_url, priority=priority)
    state.board.apply_status(queued)
    await state.kafka.send_status(queued)
    request = ScriptRequest(job_id=job_id, text=payload.text, avatar_id=payload.avatar_id,
                            voice_id=payload.voice_id, options=payload.options, submitted_at=now, tenant=tenant,
                            webhook_url=payload.webhook_url, priority=priority)
    await state.kafka.send_request(request)
    return GenerateResponse(job_id=job_id, state=JobState.QUEUED, status_url=f"/api/v1/status/{job_id}",
                            stream_url=f"/api/v1/stream/{job_id}", video_url=f"/api/v1/video/{job_id}")


async def generate(request: Request) -> Response:
    """Submit a script (JSON), or audio to speak instead (multipart `audio`: README, Your own
    audio); answers 202 with the job id and its status, stream and video URLs."""
    from streamer import audio_jobs  # here: that module imports this one
    if audio_jobs.is_multipart(request):
        return await audio_jobs.generate_from_audio(request)
    state = gateway(request)
    payload = await read_model(request, GenerateRequest, MAX_BODY_BYTES)
    require_space(state)
    who = caller(request)
    check_request(state, payload, who)
    payload = await with_webhook(request, payload)
    return json_response(await accept(state, payload, who.tenant), 202)


async def status(request: Request) -> Response:
    """A job's state, progress, timings and error."""
    job_id = job_id_of(request)
    view = visible(request, gateway(request).board.get(job_id))
    if view is None:
        raise ApiError(404, f"unknown job {job_id!r}")
    return json_response(with_urls(view.status, signer_for(request.app)))


async def video(request: Request) -> Response:
    """The final MP4 (Range requests work, If-None-Match answers 304); 409 while the job is still running."""
    state = gateway(request)
    job_id = job_id_of(request)
    view = visible(request, state.board.get(job_id))
    path = state.store.final_path(job_id)
    if view is not None and path.exists():
        return await file_response(request, path, "video/mp4", f"{job_id}.mp4")
    if view is None:
        raise ApiError(404, f"unknown job {job_id!r}")
    raise ApiError(409, f"the video is not ready; job is {view.status.state.value}",
                   {"state": view.status.state.value, "progress": view.status.progress})


routes: list[BaseRoute] = [
    Route("/api/v1/generate", generate, methods=["POST"]),
    Route("/api/v1/status/{job_id}", status),
    Route("/api/v1/video/{job_id}", video),
]
