"""GET /openapi.json: the OpenAPI 3.1 document, built from the schemas/ models and the route table.

Routes described in `OPERATIONS` get request and response schemas; any other
route (other modules' endpoints) is still listed, with its handler's docstring.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from schemas.avatars import AvatarPage, AvatarRecord, AvatarTrainResponse
from schemas.base import Message
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
from schemas.speech import CloneResponse, TtsRequest, VoiceList
from schemas.ws import WsCaptions, WsEnd, WsError, WsInit, WsStatus


@dataclass(frozen=True)
class Operation:
    request: type[Message] | None = None
    responses: dict[int, type[Message] | str] = field(default_factory=dict)
    query: tuple[tuple[str, str, str], ...] = ()   # (name, JSON type, description)


_ERRORS: dict[int, type[Message] | str] = {401: ErrorBody, 429: ErrorBody}
OPERATIONS: dict[tuple[str, str], Operation] = {
    ("POST", "/api/v1/generate"): Operation(GenerateRequest, {202: GenerateResponse, 400: ErrorBody, 404: ErrorBody,
                                                              413: ErrorBody, 422: ErrorBody}),
    ("GET", "/api/v1/status/{job_id}"): Operation(None, {200: JobStatus, 400: ErrorBody, 404: ErrorBody}),
    ("GET", "/api/v1/video/{job_id}"): Operation(None, {200: "video/mp4", 206: "video/mp4", 404: ErrorBody,
                                                        409: ErrorBody}),
    ("GET", "/api/v1/jobs"): Operation(None, {200: JobList, 400: ErrorBody}, (
        ("state", "string", "comma-separated states: queued,running,completed,failed,cancelled"),
        ("limit", "integer", "page size, 1-500 (default 50)"),
        ("offset", "integer", "jobs to skip (default 0)"))),
    ("DELETE", "/api/v1/jobs/{job_id}"): Operation(None, {200: JobStatus, 404: ErrorBody}),
    ("POST", "/api/v1/batch"): Operation(BatchRequest, {202: BatchResponse, 404: ErrorBody, 413: ErrorBody,
                                                        422: ErrorBody}),
    ("POST", "/api/v1/avatars/train"): Operation(None, {202: AvatarTrainResponse, 400: ErrorBody, 413: ErrorBody,
                                                         415: ErrorBody, 422: ErrorBody}),
    ("GET", "/api/v1/avatars"): Operation(None, {200: AvatarPage, 400: ErrorBody}, (
        ("limit", "integer", "page size, 1-100"), ("offset", "integer", "avatars to skip (default 0)"))),
    ("GET", "/api/v1/avatars/{avatar_id}"): Operation(None, {200: AvatarRecord, 400: ErrorBody, 404: ErrorBody}),
    ("DELETE", "/api/v1/avatars/{avatar_id}"): Operation(None, {204: "deleted", 404: ErrorBody, 409: ErrorBody}),
    ("GET", "/api/v1/avatars/{avatar_id}/thumbnail"): Operation(None, {200: "image/jpeg", 404: ErrorBody}),
    ("GET", "/api/v1/voices"): Operation(None, {200: VoiceList}),
    ("POST", "/api/v1/voices/clone"): Operation(None, {201: CloneResponse, 400: ErrorBody, 413: ErrorBody,
                                                       415: ErrorBody, 422: ErrorBody, 502: ErrorBody}),
    ("POST", "/api/v1/tts"): Operation(TtsRequest, {200: "audio/wav", 400: ErrorBody, 404: ErrorBody,
                                                    413: ErrorBody, 422: ErrorBody, 502: ErrorBody}),
    ("GET", "/health"): Operation(None, {200: Health, 503: Health}),
    ("GET", "/api/v1/stream/{job_id}"): Operation(None, {101: "WebSocket: see docs/websocket.md"}, (
        ("from_seq", "integer", "first media segment to send (default 0)"),
        ("api_key", "string", "API key, for browsers that cannot set headers"))),
}
WS_MESSAGES: tuple[type[Message], ...] = (WsStatus, WsInit, WsCaptions, WsEnd, WsError)


def _schema(model: type[Message], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _content(kind: type[Message] | str, components: dict[str, Any]) -> dict[str, Any]:
    if isinstance(kind, str):
        return {"description": kind, **({"content": {kind: {}}} if "/" in kind and " " not in kind else {})}
    return {"description": kind.__doc__.strip().splitlines()[0] if kind.__doc__ else kind.__name__,
            "content": {"application/json": {"schema": _schema(kind, components)}}}


def _operation(method: str, path: str, endpoint: Any, components: dict[str, Any]) -> dict[str, Any]:
    doc = inspect.getdoc(endpoint) or ""
    op: dict[str, Any] = {"summary": doc.splitlines()[0] if doc else path, "description": doc}
    spec = OPERATIONS.get((method, path), Operation(responses={200: "OK"}))
    params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
              for name in _path_params(path)]
    params += [{"name": n, "in": "query", "required": False, "schema": {"type": t}, "description": d}
               for n, t, d in spec.query]
    if params:
        op["parameters"] = params
    if spec.request is not None:
        schema = _schema(spec.request, components)
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": schema}}}
    responses = {**spec.responses, **(_ERRORS if path.startswith("/api/") else {})}
    op["responses"] = {str(code): _content(kind, components) for code, kind in sorted(responses.items())}
    if path.startswith("/api/"):
        op["security"] = [{"bearer": []}, {"apiKey": []}]
    return op


def _path_params(path: str) -> list[str]:
    return [part[1:-1].split(":")[0] for part in path.split("/") if part.startswith("{")]


def build_document(routes: list[BaseRoute]) -> dict[str, Any]:
    components: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if isinstance(route, Route) and route.include_in_schema:
            for method in sorted((route.methods or set()) - {"HEAD"}):
                operation = _operation(method, route.path, route.endpoint, components)
                paths.setdefault(route.path, {})[method.lower()] = operation
        elif isinstance(route, WebSocketRoute):
            paths.setdefault(route.path, {})["get"] = _operation("GET", route.path, route.endpoint, components)
    for model in WS_MESSAGES:
        _schema(model, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "avatar-stream", "version": "1",
                 "description": "Text script to lip-synced talking-avatar video, streamed while it is made."},
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}},
    }


async def openapi_json(request: Request) -> Response:
    """This document."""
    return JSONResponse(build_document(request.app.routes))


routes: list[BaseRoute] = [Route("/openapi.json", openapi_json, include_in_schema=False)]
