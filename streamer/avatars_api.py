"""Avatar endpoints: upload to train, list, details with the quality report, thumbnail, delete.

A ready avatar is whatever the media store holds; one still in training (or
failed) is known from its status events on the job board (job_id = avatar_id).
"""

from __future__ import annotations

import os
import re
import time
import uuid

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from core.webhook_targets import WebhookTargetError
from models.avatars.avatar import AvatarSummary
from models.avatars.media_read import MediaTooLargeError, UnusableMediaError, probe_media
from schemas.avatars import (
    AVATAR_STAGE,
    MAX_AVATAR_NAME_CHARS,
    AvatarPage,
    AvatarQuality,
    AvatarRecord,
    AvatarState,
    AvatarTrainRequest,
    AvatarTrainResponse,
)
from schemas.base import AVATAR_ID_PATTERN, no_control_chars
from schemas.requests import DEFAULT_AVATAR_ID
from schemas.status import JobState, StatusEvent
from schemas.webhooks import MAX_WEBHOOK_URL_CHARS
from streamer.api import MAX_OFFSET, ApiError, gateway, int_param, json_response, require_space
from streamer.files import file_response
from streamer.kafka_io import NotConnectedError
from streamer.owners import AVATARS, Owners
from streamer.state import GatewayState
from streamer.tenants import caller
from streamer.tickets import signer_for
from streamer.uploads import UploadError, hide_path, receive_upload
from streamer.webhook_urls import webhook_for

_STATES: dict[JobState, AvatarState] = {JobState.QUEUED: "queued", JobState.RUNNING: "running",
                                        JobState.FAILED: "failed", JobState.CANCELLED: "failed"}
DEFAULT_PAGE, MAX_PAGE = 20, 100


def _avatar_id(request: Request) -> str:
    avatar_id = str(request.path_params["avatar_id"])
    if not re.match(AVATAR_ID_PATTERN, avatar_id):
        raise ApiError(400, "invalid avatar id: 1-64 of A-Z a-z 0-9 _ - (not starting with _ or -)")
    return avatar_id


def _ready(avatar_id: str, summary: AvatarSummary) -> AvatarRecord:
    quality = None if summary.quality is None else AvatarQuality.model_validate(summary.quality.to_json())
    return AvatarRecord(avatar_id=avatar_id, name=summary.name, state="ready", progress=1.0,
                        source_kind=summary.source_kind, fps=summary.fps, frames=summary.frames,
                        width=summary.width, height=summary.height, created_at=summary.created_at,
                        quality=quality, thumbnail_url=f"/api/v1/avatars/{avatar_id}/thumbnail")


def _owned(request: Request, record: AvatarRecord | None) -> AvatarRecord | None:
    """`record` with its owner and a signed thumbnail URL, when the caller may see it."""
    if record is None:
        return None
    owner = Owners(gateway(request).store.root).get(AVATARS, record.avatar_id)
    if not caller(request).sees(owner):
        return None
    signer = signer_for(request.app)
    thumbnail = record.thumbnail_url
    if signer is not None and thumbnail is not None:
        thumbnail = signer.signed_url(thumbnail)
    return record.model_copy(update={"tenant": owner, "thumbnail_url": thumbnail})


def _record(state: GatewayState, avatar_id: str) -> AvatarRecord | None:
    summary = state.store.avatar_summary(avatar_id)
    if summary is not None:
        return _ready(avatar_id, summary)
    view = state.board.get(avatar_id)
    if view is None or view.status.avatar_id != avatar_id or view.status.state is JobState.COMPLETED:
        return None  # not an avatar job, or trained and since deleted
    status = view.status
    return AvatarRecord(avatar_id=avatar_id, state=_STATES[status.state], progress=status.progress,
                        message=status.message, error=status.error, created_at=status.created_at)


def _in_use(state: GatewayState, avatar_id: str) -> list[str]:
    """Jobs not yet finished that render with this avatar (its own training run included)."""
    return [v.job_id for v in state.board.all() if v.status.avatar_id == avatar_id and not v.status.state.final]


async def _send_train(state: GatewayState, request: AvatarTrainRequest) -> None:
    try:
        await state.kafka.send_avatar_request(request)
    except NotConnectedError as exc:
        raise ApiError(503, str(exc)) from None


async def avatar_webhook(request: Request, given: str | None) -> str | None:
    """The training's webhook (the `webhook_url` part, else the key's), checked: 422 if refused."""
    if given is not None and len(given) > MAX_WEBHOOK_URL_CHARS:
        raise ApiError(422, f"'webhook_url' is over {MAX_WEBHOOK_URL_CHARS} characters")
    try:
        return await webhook_for(gateway(request).settings, caller(request).tenant, given)
    except WebhookTargetError as exc:
        raise ApiError(422, f"'webhook_url': {exc}", {"field": "webhook_url"}) from None


async def train(request: Request) -> Response:
    """Upload a video or photo (multipart `file`, `name`); it becomes an avatar."""
    state = gateway(request)
    require_space(state)
    limits = state.settings.avatars
    avatar_id = uuid.uuid4().hex
    part = state.store.new_upload_part(avatar_id)
    try:
        try:
            upload = await receive_upload(request, part, max_file_bytes=limits.upload_max_bytes)
        except UploadError as exc:
            raise ApiError(exc.status_code, str(exc)) from None
        name = upload.fields.get("name", "").strip()
        if not upload.has_file or upload.file_bytes == 0:
            raise ApiError(400, "no video or photo: send it as the multipart part 'file'")
        if not name or len(name) > MAX_AVATAR_NAME_CHARS:
            raise ApiError(422, f"'name' is required, 1-{MAX_AVATAR_NAME_CHARS} characters")
        try:
            no_control_chars(name)
        except ValueError as exc:
            raise ApiError(422, f"'name': {exc}") from None
        webhook_url = await avatar_webhook(request, upload.fields.get("webhook_url") or None)
        try:
            info = await run_in_threadpool(probe_media, part, limits.max_pixels)
        except UnusableMediaError as exc:  # the decoder names the file it read: not for clients
            status = 413 if isinstance(exc, MediaTooLargeError) else 415
            raise ApiError(status, hide_path(str(exc), part, "the upload")) from None
        os.replace(part, state.store.upload_path(avatar_id))
    finally:
        part.unlink(missing_ok=True)
    now = time.time()
    tenant = caller(request).tenant
    Owners(state.store.root).set(AVATARS, avatar_id, tenant)
    queued = StatusEvent(job_id=avatar_id, state=JobState.QUEUED, stage=AVATAR_STAGE, at=now, progress=0.0,
                         avatar_id=avatar_id, created_at=now, tenant=tenant,
                         message=f"uploaded {info.kind} {info.width}x{info.height} ({info.container})",
                         webhook_url=webhook_url)
    state.board.apply_status(queued)
    await state.kafka.send_status(queued)
    await _send_train(state, AvatarTrainRequest(avatar_id=avatar_id, name=name, upload=avatar_id,
                                                size_bytes=upload.file_bytes, submitted_at=now, tenant=tenant,
                                                webhook_url=webhook_url))
    return json_response(AvatarTrainResponse(avatar_id=avatar_id, state="queued",
                                             status_url=f"/api/v1/avatars/{avatar_id}"), 202)


async def list_avatars(request: Request) -> Response:
    """Avatars, ready and in training, paged with `offset` and `limit`."""
    state = gateway(request)
    limit = int_param(request, "limit", DEFAULT_PAGE, 1, MAX_PAGE)
    offset = int_param(request, "offset", 0, 0, MAX_OFFSET)
    ids = set(state.store.avatar_ids())
    ids |= {v.job_id for v in state.board.all() if v.status.avatar_id == v.job_id}
    records = [r for r in (_owned(request, _record(state, i)) for i in ids) if r is not None]
    records.sort(key=lambda r: (-(r.created_at or 0.0), r.avatar_id))
    return json_response(AvatarPage(items=records[offset:offset + limit], total=len(records),
                                    offset=offset, limit=limit))


async def get_avatar(request: Request) -> Response:
    """One avatar: state, metadata, quality report and thumbnail URL."""
    avatar_id = _avatar_id(request)
    record = _owned(request, _record(gateway(request), avatar_id))
    if record is None:
        raise ApiError(404, f"unknown avatar {avatar_id!r}")
    return json_response(record)


async def thumbnail(request: Request) -> Response:
    """A JPEG of the avatar's first frame (If-None-Match answers 304)."""
    state = gateway(request)
    avatar_id = _avatar_id(request)
    path = state.store.thumbnail_path(avatar_id)
    if not path.is_file() or not caller(request).sees(Owners(state.store.root).get(AVATARS, avatar_id)):
        raise ApiError(404, f"no thumbnail for avatar {avatar_id!r}")
    return await file_response(request, path, "image/jpeg")


async def delete_avatar(request: Request) -> Response:
    """Delete an avatar; 409 while a job uses it."""
    state = gateway(request)
    avatar_id = _avatar_id(request)
    if avatar_id == DEFAULT_AVATAR_ID:
        raise ApiError(409, "the sample avatar is built in and cannot be deleted")
    who, owners = caller(request), Owners(state.store.root)
    owner = owners.get(AVATARS, avatar_id)
    if not who.sees(owner):
        raise ApiError(404, f"unknown avatar {avatar_id!r}")
    if owner is None and not who.is_admin and state.store.has_avatar(avatar_id):
        raise ApiError(403, f"avatar {avatar_id!r} is shared by all keys: only an admin key may delete it")
    users = _in_use(state, avatar_id)
    if users:
        raise ApiError(409, f"avatar {avatar_id!r} is in use by {len(users)} unfinished job(s)", {"jobs": users})
    if not await run_in_threadpool(state.store.delete_avatar, avatar_id):
        raise ApiError(404, f"unknown avatar {avatar_id!r}")
    owners.forget(AVATARS, avatar_id)
    return Response(status_code=204)


routes: list[BaseRoute] = [
    Route("/api/v1/avatars/train", train, methods=["POST"]),
    Route("/api/v1/avatars", list_avatars),
    Route("/api/v1/avatars/{avatar_id}", get_avatar),
    Route("/api/v1/avatars/{avatar_id}", delete_avatar, methods=["DELETE"]),
    Route("/api/v1/avatars/{avatar_id}/thumbnail", thumbnail),
]
