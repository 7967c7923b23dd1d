"""GET /openapi.json: the OpenAPI 3.1 document, built from the schemas/ models and the route table.

Routes described in `OPERATIONS` get request and response schemas; any other
route (other modules' endpoints) is still listed, with its handler's docstring.
Limits come from the constants the handlers check, so the two cannot drift apart.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from schemas.avatars import MAX_AVATAR_NAME_CHARS, AvatarPage, AvatarRecord, AvatarTrainResponse
from schemas.base import AVATAR_ID_PATTERN, JOB_ID_PATTERN, PLAIN_TEXT_PATTERN, Message
from schemas.http import (
    BatchRequest,
    BatchResponse,
    ErrorBody,
    GenerateRequest,
    GenerateResponse,
    Health,
    JobList,
    JobStatus,
)
from schemas.requests import DEFAULT_AVATAR_ID
from schemas.sessions import (
    SessionEnd,
    SessionInterrupt,
    SessionRequest,
    SessionResponse,
    SessionSay,
)
from schemas.speech import MAX_VOICE_NAME_CHARS, CloneResponse, TtsRequest, VoiceList
from schemas.status import JobState
from schemas.tickets import TicketResponse
from schemas.usage import UsageReport
from schemas.webhooks import MAX_WEBHOOK_URL_CHARS, WebhookDeliveryList
from schemas.ws import WsCaptions, WsEnd, WsError, WsInit, WsStatus
from streamer import avatars_api, jobs_api
from streamer.api import MAX_OFFSET
from streamer.speech_api import MAX_CLONE_FILE_BYTES, MAX_CLONE_FILES

Schema = dict[str, Any]


@dataclass(frozen=True)
class Query:
    name: str
    schema: Schema
    description: str


@dataclass(frozen=True)
class Operation:
    request: type[Message] | None = None
    responses: dict[int, type[Message] | str] = field(default_factory=dict)
    query: tuple[Query, ...] = ()
    form: Schema | None = None  # a multipart/form-data body, instead of `request`


def _integer(low: int, high: int, default: int) -> Schema:
    return {"type": "integer", "minimum": low, "maximum": high, "default": default}


def _text(low: int, high: int | None = None) -> Schema:
    limits = {"minLength": low, **({"maxLength": high} if high is not None else {})}
    return {"type": "string", **limits, "pattern": PLAIN_TEXT_PATTERN}


def _page(default: int, high: int, what: str) -> tuple[Query, ...]:
    return (Query("limit", _integer(1, high, default), f"page size, 1-{high} (default {default})"),
            Query("offset", _integer(0, MAX_OFFSET, 0), f"{what} to skip (default 0)"))


_BINARY: Schema = {"type": "string", "format": "binary", "contentMediaType": "application/octet-stream"}
PATH_PARAMS: dict[str, Schema] = {"job_id": {"type": "string", "pattern": JOB_ID_PATTERN},
                                  "session_id": {"type": "string", "pattern": JOB_ID_PATTERN},
                                  "avatar_id": {"type": "string", "pattern": AVATAR_ID_PATTERN}}
AVATAR_FORM: Schema = {"type": "object", "required": ["file", "name"], "properties": {
    "file": {**_BINARY, "description": "a video (MP4, MOV, WebM, MKV) or photo (JPEG, PNG, WebP), "
                                       "at most AVATAR_UPLOAD_MAX_BYTES; its type is decided by decoding"},
    "name": _text(1, MAX_AVATAR_NAME_CHARS),
    "webhook_url": {"type": "string", "maxLength": MAX_WEBHOOK_URL_CHARS,
                    "description": "http(s) URL for the signed avatar.ready / avatar.failed event"}}}
CLONE_FORM: Schema = {"type": "object", "required": ["files", "name"], "properties": {
    "files": {"type": "array", "minItems": 1, "maxItems": MAX_CLONE_FILES,
              "items": {**_BINARY, "description": f"an audio sample, at most {MAX_CLONE_FILE_BYTES} bytes"}},
    "name": _text(1, MAX_VOICE_NAME_CHARS), "description": _text(0)}}
AUDIO_FORM: Schema = {"type": "object", "required": ["audio"], "description": (
    "a job driven by your own audio instead of text (README: Your own audio): 413 over "
    "AVATAR_AUDIO_MAX_BYTES, 415 when `audio` is not decodable audio, 422 when it is empty or "
    "longer than AVATAR_AUDIO_MAX_S (or a field is invalid)"), "properties": {
    "audio": {**_BINARY, "description": "WAV, MP3, OGG/Opus or M4A/AAC, at most AVATAR_AUDIO_MAX_BYTES "
                                        "and AVATAR_AUDIO_MAX_S; its type is decided by decoding"},
    "avatar_id": {"type": "string", "pattern": AVATAR_ID_PATTERN, "default": DEFAULT_AVATAR_ID},
    "options": {"type": "string", "contentMediaType": "application/json",
                "description": "RenderOptions as a JSON object, as in the JSON body"},
    "webhook_url": {"type": "string", "maxLength": MAX_WEBHOOK_URL_CHARS,
                    "description": "http(s) URL for the signed job.completed / job.failed event"}}}
STREAM_DOC = ("Refusals accept the socket, send an `error` message (WsError) and close with "
              "4000 + the HTTP status: 4401 key or ticket (invalid, expired, another job's), 4403 origin, "
              "4404 job (also another tenant's), 4429 rate (with retry_after_s); "
              "see docs/websocket.md for every close code.")
# Signed download URLs (streamer/tickets.py): what a job status' video_url and an avatar's
# thumbnail_url carry while keys are checked.
SIGNED: tuple[Query, ...] = (
    Query("expires", {"type": "integer"}, "signed URL: unix seconds it expires (AVATAR_SIGNED_URL_TTL_S)"),
    Query("signature", {"type": "string"}, "signed URL: the gateway's signature of this path and expiry"))

_E = ErrorBody
_STATE = "|".join(s.value for s in JobState)
_STATES = rf"^\s*({_STATE})?\s*(,\s*({_STATE})?\s*)*$"  # as list_jobs splits and strips them
OPERATIONS: dict[tuple[str, str], Operation] = {
    ("POST", "/api/v1/generate"): Operation(GenerateRequest, {202: GenerateResponse, 400: _E, 404: _E, 415: _E,
                                                              422: _E, 507: _E}, form=AUDIO_FORM),
    ("GET", "/api/v1/status/{job_id}"): Operation(None, {200: JobStatus, 400: _E, 404: _E}),
    ("GET", "/api/v1/video/{job_id}"): Operation(None, {200: "video/mp4", 206: "video/mp4", 304: "not modified",
                                                        400: _E, 404: _E, 409: _E, 416: _E}, SIGNED),
    ("GET", "/api/v1/jobs"): Operation(None, {200: JobList, 400: _E}, (
        Query("state", {"type": "string", "pattern": _STATES}, f"comma-separated states: {','.join(s.value for s in JobState)}"),
        *_page(jobs_api.DEFAULT_PAGE, jobs_api.MAX_PAGE, "jobs"))),
    ("DELETE", "/api/v1/jobs/{job_id}"): Operation(None, {200: JobStatus, 400: _E, 404: _E}),
    ("POST", "/api/v1/batch"): Operation(BatchRequest, {202: BatchResponse, 400: _E, 404: _E, 415: _E, 422: _E,
                                                        507: _E}),
    ("POST", "/api/v1/avatars/train"): Operation(None, {202: AvatarTrainResponse, 400: _E, 415: _E, 422: _E,
                                                         503: _E, 507: _E}, form=AVATAR_FORM),
    ("GET", "/api/v1/avatars"): Operation(None, {200: AvatarPage, 400: _E},
                                          _page(avatars_api.DEFAULT_PAGE, avatars_api.MAX_PAGE, "avatars")),
    ("GET", "/api/v1/avatars/{avatar_id}"): Operation(None, {200: AvatarRecord, 400: _E, 404: _E}),
    ("DELETE", "/api/v1/avatars/{avatar_id}"): Operation(None, {204: "deleted", 400: _E, 403: _E, 404: _E,
                                                                409: _E}),
    ("GET", "/api/v1/avatars/{avatar_id}/thumbnail"): Operation(None, {200: "image/jpeg", 304: "not modified",
                                                                       400: _E, 404: _E}, SIGNED),
    ("GET", "/api/v1/voices"): Operation(None, {200: VoiceList}),
    ("POST", "/api/v1/voices/clone"): Operation(None, {201: CloneResponse, 400: _E, 415: _E, 422: _E, 502: _E},
                                                form=CLONE_FORM),
    ("POST", "/api/v1/tts"): Operation(TtsRequest, {200: "audio/wav", 400: _E, 404: _E, 415: _E, 422: _E,
                                                    502: _E}),
    ("GET", "/health"): Operation(None, {200: Health, 503: Health}),
    ("GET", "/api/v1/usage"): Operation(None, {200: UsageReport, 403: _E, 422: _E}, (
        Query("from", {"type": "string", "format": "date"}, "first UTC day (default: 29 days before `to`)"),
        Query("to", {"type": "string", "format": "date"}, "last UTC day (default: today)"),
        Query("tenant", {"type": "string"}, "admin keys only: one tenant's usage (default: all tenants'; "
                                            "another key always gets its own)"))),
    ("GET", "/api/v1/stream/{job_id}"): Operation(None, {101: "WebSocket: see docs/websocket.md",
                                                         400: _E, 426: _E}, (
        Query("from_seq", {"type": "integer", "minimum": 0, "default": 0}, "first media segment to send"),
        Query("ticket", {"type": "string"}, "from POST /api/v1/jobs/{job_id}/ticket, instead of a key "
                                            "(or as Sec-WebSocket-Protocol `ticket.<ticket>`)"))),
    ("POST", "/api/v1/sessions"): Operation(SessionRequest, {201: SessionResponse, 400: _E, 404: _E, 415: _E,
                                                             422: _E, 507: _E}),
    ("GET", "/api/v1/sessions/{session_id}/stream"): Operation(None, {101: "WebSocket: see docs/websocket.md",
                                                                      400: _E, 426: _E}, (
        Query("from_seq", {"type": "integer", "minimum": 0, "default": 0}, "first media segment to send"),)),
    ("POST", "/api/v1/jobs/{job_id}/ticket"): Operation(None, {200: TicketResponse, 400: _E, 404: _E}),
    ("GET", "/api/v1/jobs/{job_id}/webhooks"): Operation(None, {200: WebhookDeliveryList, 400: _E, 404: _E}),
}
# What the guard (streamer/auth.py) may answer before any handler: to every /api/ operation,
# and to those that carry a body or change something.
_GUARD: dict[int, type[Message] | str] = {401: _E, 429: _E}
_GUARD_UNSAFE: dict[int, type[Message] | str] = {403: _E, 413: _E}
WS_MESSAGES: tuple[type[Message], ...] = (WsStatus, WsInit, WsCaptions, WsEnd, WsError, SessionSay,
                                          SessionInterrupt, SessionEnd)


def _schema(model: type[Message], components: dict[str, Any]) -> Schema:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _content(kind: type[Message] | str, components: dict[str, Any]) -> Schema:
    if isinstance(kind, str):
        return {"description": kind, **({"content": {kind: {}}} if "/" in kind and " " not in kind else {})}
    return {"description": kind.__doc__.strip().splitlines()[0] if kind.__doc__ else kind.__name__,
            "content": {"application/json": {"schema": _schema(kind, components)}}}


def _responses(method: str, path: str, spec: Operation, websocket: bool) -> dict[int, type[Message] | str]:
    if not path.startswith("/api/"):
        return spec.responses
    if websocket:  # a WebSocket's refusals are close codes; a plain GET meets the guard
        return {**spec.responses, **_GUARD}
    unsafe = method not in ("GET", "HEAD")
    return {**spec.responses, **_GUARD, **(_GUARD_UNSAFE if unsafe else {})}


def _operation(method: str, path: str, endpoint: Any, components: dict[str, Any],
               websocket: bool = False) -> Schema:
    doc = inspect.getdoc(endpoint) or ""
    spec = OPERATIONS.get((method, path), Operation(responses={200: "OK"}))
    description = f"{doc}\n\n{STREAM_DOC}" if websocket else doc
    op: Schema = {"summary": doc.splitlines()[0] if doc else path, "description": description}
    params = [{"name": name, "in": "path", "required": True, "schema": PATH_PARAMS.get(name, {"type": "string"})}
              for name in _path_params(path)]
    params += [{"name": q.name, "in": "query", "required": False, "schema": q.schema, "description": q.description}
               for q in spec.query]
    if params:
        op["parameters"] = params
    content: Schema = {}
    if spec.request is not None:
        content["application/json"] = {"schema": _schema(spec.request, components)}
    if spec.form is not None:  # alone, or beside JSON as another way to send the same request
        content["multipart/form-data"] = {"schema": spec.form}
    if content:
        op["requestBody"] = {"required": True, "content": content}
    responses = _responses(method, path, spec, websocket)
    op["responses"] = {str(code): _content(kind, components) for code, kind in sorted(responses.items())}
    if path.startswith("/api/"):
        op["security"] = [{"bearer": []}, {"apiKey": []}, {"apiKeyQuery": []}]
    return op


def _path_params(path: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]


def build_document(routes: list[BaseRoute]) -> Schema:
    components: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if isinstance(route, Route) and route.include_in_schema:
            for method in sorted((route.methods or set()) - {"HEAD"}):
                operation = _operation(method, route.path, route.endpoint, components)
                paths.setdefault(route.path, {})[method.lower()] = operation
        elif isinstance(route, WebSocketRoute):
            paths.setdefault(route.path, {})["get"] = _operation("GET", route.path, route.endpoint, components,
                                                                 websocket=True)
    for model in WS_MESSAGES:
        _schema(model, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "avatar-stream", "version": "1",
                 "description": "Text script to lip-synced talking-avatar video, streamed while it is made."},
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "apiKeyQuery": {"type": "apiKey", "in": "query", "name": "api_key",
                            "description": "still accepted (and redacted from logs), but a key in a URL "
                                           "leaks: browsers use tickets and signed URLs instead"}}},
    }


def without_keys(document: Schema) -> Schema:
    """The document as a dev-mode gateway serves it: no operation asks for a key there."""
    for operations in document["paths"].values():
        for operation in operations.values():
            operation.pop("security", None)
    document["components"].pop("securitySchemes", None)
    return document


async def openapi_json(request: Request) -> Response:
    """This document."""
    document = build_document(request.app.routes)
    if not request.app.state.gateway.settings.auth_required:
        document = without_keys(document)
    return JSONResponse(document)


routes: list[BaseRoute] = [Route("/openapi.json", openapi_json, include_in_schema=False)]
