"""POST /api/v1/generate with multipart/form-data: a job driven by the caller's own audio.

The `audio` part is streamed to the new job's own folder (`jobs/{id}/audio/`, so retention
and DELETE remove it with the job), probed there with PyAV for a decodable audio stream and
its duration, and the request names it (ScriptRequest.audio_upload); from there the
pipeline is the text job's, with the file's pieces decoded where speech would be made.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path

import orjson
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from core.webhook_targets import WebhookTargetError
from models.speech.audio_file import (
    AudioFileInfo,
    AudioTooLongError,
    EmptyAudioError,
    NotAudioFileError,
    probe_audio_file,
)
from schemas.base import DEFAULT_TENANT
from schemas.http import AudioGenerateForm, GenerateResponse
from schemas.requests import ScriptRequest
from schemas.status import JobState, StatusEvent
from streamer.api import ApiError, gateway, json_response, require_space
from streamer.owners import AVATARS, Owners
from streamer.state import GatewayState
from streamer.tenants import Caller, caller
from streamer.uploads import UploadError, hide_path, receive_upload
from streamer.webhook_urls import webhook_for

AUDIO_FIELD = "audio"
AUDIO_NAME = "source"  # the file's name in the job's audio folder
VOICE_LABEL = "own-audio"  # the job's voice_id in its status: no voice speaks


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower() == "multipart/form-data"


def read_form(fields: dict[str, str]) -> AudioGenerateForm:
    """The form's text fields as the JSON body's: `options` is a JSON object in a string;
    422 for anything invalid, `text` beside the audio included."""
    if "text" in fields:
        raise ApiError(422, "give either a JSON body with 'text' or a multipart 'audio' part, not both")
    body: dict[str, object] = {k: v for k, v in fields.items() if v != ""}
    if "options" in body:
        try:
            body["options"] = orjson.loads(str(body["options"]))
        except orjson.JSONDecodeError:
            raise ApiError(422, "'options' must be a JSON object", {"field": "options"}) from None
    try:
        return AudioGenerateForm.model_validate(body)
    except ValidationError as exc:
        detail = orjson.loads(exc.json(include_url=False, include_input=False))
        raise ApiError(422, "invalid request", detail) from None


def check_avatar(state: GatewayState, avatar_id: str, who: Caller) -> None:
    """404 for an avatar that does not exist, or that is another tenant's."""
    if not state.store.has_avatar(avatar_id) or not who.sees(Owners(state.store.root).get(AVATARS, avatar_id)):
        raise ApiError(404, f"unknown avatar_id {avatar_id!r}")


async def probe(state: GatewayState, path: Path) -> AudioFileInfo:
    """415 when not decodable audio, 422 when empty or too long; no server path in the message."""
    try:
        return await run_in_threadpool(probe_audio_file, path, state.settings.audio_max_s)
    except NotAudioFileError as exc:
        raise ApiError(415, hide_path(str(exc), path, "the upload")) from None
    except (AudioTooLongError, EmptyAudioError) as exc:
        raise ApiError(422, hide_path(str(exc), path, "the upload"),
                       {"max_s": state.settings.audio_max_s}) from None


async def accept_audio(state: GatewayState, job_id: str, form: AudioGenerateForm, info: AudioFileInfo,
                       tenant: str = DEFAULT_TENANT) -> GenerateResponse:
    """Queues the audio job: its QUEUED status first (so it is listed at once), then the request."""
    now = time.time()
    queued = StatusEvent(job_id=job_id, state=JobState.QUEUED, stage="gateway", at=now, progress=0.0,
                         avatar_id=form.avatar_id, voice_id=VOICE_LABEL, text_chars=0, created_at=now,
                         message=f"accepted {info.duration_s:.1f} s of audio ({info.codec})", tenant=tenant,
                         webhook_url=form.webhook_url)
    state.board.apply_status(queued)
    await state.kafka.send_status(queued)
    await state.kafka.send_request(ScriptRequest(
        job_id=job_id, audio_upload=AUDIO_NAME, avatar_id=form.avatar_id, voice_id=VOICE_LABEL,
        options=form.options, submitted_at=now, tenant=tenant, webhook_url=form.webhook_url))
    return GenerateResponse(job_id=job_id, state=JobState.QUEUED, status_url=f"/api/v1/status/{job_id}",
                            stream_url=f"/api/v1/stream/{job_id}", video_url=f"/api/v1/video/{job_id}")


async def generate_from_audio(request: Request) -> Response:
    """The multipart form of POST /api/v1/generate: 202 as for a script, 413 over
    AVATAR_AUDIO_MAX_BYTES, 415 not audio, 422 empty or over AVATAR_AUDIO_MAX_S."""
    state = gateway(request)
    require_space(state)
    job_id = uuid.uuid4().hex
    final = state.store.job_audio_path(job_id, AUDIO_NAME)
    final.parent.mkdir(parents=True, exist_ok=True)
    part = final.with_name(f".{AUDIO_NAME}.part")
    queued = False
    try:
        try:
            upload = await receive_upload(request, part, file_field=AUDIO_FIELD,
                                          max_file_bytes=state.settings.audio_max_bytes)
        except UploadError as exc:
            raise ApiError(exc.status_code, str(exc)) from None
        if not upload.has_file:
            raise ApiError(400, "no audio: send it as the multipart part 'audio' (or send JSON with 'text')")
        if upload.file_bytes == 0:
            raise ApiError(422, "the audio file is empty")
        form = read_form(upload.fields)
        who = caller(request)
        check_avatar(state, form.avatar_id, who)
        try:
            webhook = await webhook_for(state.settings, who.tenant, form.webhook_url)
        except WebhookTargetError as exc:
            raise ApiError(422, f"'webhook_url': {exc}", {"field": "webhook_url"}) from None
        form = form.model_copy(update={"webhook_url": webhook})
        info = await probe(state, part)
        os.replace(part, final)
        response = await accept_audio(state, job_id, form, info, who.tenant)
        queued = True
    finally:
        part.unlink(missing_ok=True)
        if not queued:
            shutil.rmtree(state.store.job_dir(job_id), ignore_errors=True)
    return json_response(response, 202)
