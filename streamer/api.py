"""HTTP handlers: submit a script, read a job's status, download its MP4, health."""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from schemas.base import Message
from schemas.http import ErrorBody, GenerateRequest, GenerateResponse, JobStatus
from schemas.requests import ScriptRequest
from schemas.status import JobState, StatusEvent
from streamer.state import GatewayState

MAX_BODY_BYTES = 256 * 1024
KNOWN_VOICES = {"piper:joe"}


def json_response(body: Message, status_code: int = 200) -> Response:
    return Response(body.to_json(), status_code=status_code, media_type="application/json")


def error(status_code: int, message: str, detail: Any = None) -> Response:
    return json_response(ErrorBody(error=message, detail=detail), status_code)


def _state(request: Request) -> GatewayState:
    return request.app.state.gateway  # type: ignore[no-any-return]


def with_urls(status: JobStatus) -> JobStatus:
    if status.state is JobState.COMPLETED:
        return status.model_copy(update={"video_url": f"/api/v1/video/{status.job_id}"})
    return status


async def generate(request: Request) -> Response:
    state = _state(request)
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return error(413, f"request body over {MAX_BODY_BYTES} bytes")
    try:
        payload = GenerateRequest.model_validate(orjson.loads(body))
    except orjson.JSONDecodeError as exc:
        return error(400, "request body is not valid JSON", str(exc))
    except ValidationError as exc:
        return error(422, "invalid request", orjson.loads(exc.json(include_url=False, include_input=False)))
    if not state.store.has_avatar(payload.avatar_id):
        return error(404, f"unknown avatar_id {payload.avatar_id!r}")
    if payload.voice_id not in KNOWN_VOICES:
        return error(404, f"unknown voice_id {payload.voice_id!r}")
    job_id = uuid.uuid4().hex
    now = time.time()
    queued = StatusEvent(job_id=job_id, state=JobState.QUEUED, stage="gateway", at=now, progress=0.0,
                         avatar_id=payload.avatar_id, voice_id=payload.voice_id,
                         text_chars=len(payload.text), created_at=now, message="accepted")
    state.board.apply_status(queued)
    await state.kafka.send_status(queued)
    await state.kafka.send_request(ScriptRequest(job_id=job_id, text=payload.text, avatar_id=payload.avatar_id,
                                                 voice_id=payload.voice_id, options=payload.options,
                                                 submitted_at=now))
    return json_response(GenerateResponse(job_id=job_id, state=JobState.QUEUED,
                                          status_url=f"/api/v1/status/{job_id}",
                                          stream_url=f"/api/v1/stream/{job_id}",
                                          video_url=f"/api/v1/video/{job_id}"), 202)


async def status(request: Request) -> Response:
    job_id = request.path_params["job_id"]
    view = _state(request).board.get(job_id)
    if view is None:
        return error(404, f"unknown job {job_id!r}")
    return json_response(with_urls(view.status))


async def video(request: Request) -> Response:
    state = _state(request)
    job_id = request.path_params["job_id"]
    view = state.board.get(job_id)
    try:
        path = state.store.final_path(job_id)
    except ValueError:
        return error(404, f"unknown job {job_id!r}")
    if path.exists():
        return FileResponse(path, media_type="video/mp4", filename=f"{job_id}.mp4")
    if view is None:
        return error(404, f"unknown job {job_id!r}")
    return error(409, f"the video is not ready; job is {view.status.state.value}",
                 {"state": view.status.state.value, "progress": view.status.progress})


async def health(request: Request) -> Response:
    broker = await _state(request).kafka.broker_ok()
    return JSONResponse({"status": "ok" if broker else "degraded", "broker": broker},
                        status_code=200 if broker else 503)


routes: list[BaseRoute] = [
    Route("/health", health),
    Route("/api/v1/generate", generate, methods=["POST"]),
    Route("/api/v1/status/{job_id}", status),
    Route("/api/v1/video/{job_id}", video),
]
