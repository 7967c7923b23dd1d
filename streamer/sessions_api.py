"""Live sessions: POST /api/v1/sessions opens one; WS /api/v1/sessions/{session_id}/stream
carries both ways.

The socket sends what a job's stream sends (streamer/relay.py: status, init, media
segments on the session's one timeline, captions, end) and takes JSON `say`, `interrupt`
and `end` messages (schemas/sessions.py). Each valid message is written to the
session-input topic, where another system's messages go too; the session stage turns them
into sentences (processors/sessions.py). A message that is not valid is answered with an
`error` message (no close code: the socket stays open). Protocol: docs/websocket.md.
"""

from __future__ import annotations

import functools
import logging
import re
import time
import uuid

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from schemas.base import JOB_ID_PATTERN
from schemas.pipeline import JobRef
from schemas.sessions import (
    CLIENT_MESSAGES,
    SESSION_ID_PREFIX,
    SessionEnd,
    SessionInputRecord,
    SessionOpen,
    SessionRequest,
    SessionResponse,
)
from schemas.status import JobState, StatusEvent
from schemas.ws import WsError
from streamer import relay
from streamer.api import (
    MAX_BODY_BYTES,
    ApiError,
    check_request,
    gateway,
    json_response,
    read_model,
    require_space,
)
from streamer.jobs import JobView
from streamer.outbox import Outbox
from streamer.state import GatewayState
from streamer.tenants import caller, visible
from streamer.tickets import ticket_protocol

log = logging.getLogger(__name__)
JOB_ID = re.compile(JOB_ID_PATTERN)


async def open_session(request: Request) -> Response:
    """Open a live session (avatar, voice, render options); answers 201 with its id and the
    URL of its one two-way WebSocket."""
    state = gateway(request)
    payload = await read_model(request, SessionRequest, MAX_BODY_BYTES)
    require_space(state)
    who = caller(request)
    check_request(state, payload, who)
    session_id = f"{SESSION_ID_PREFIX}{uuid.uuid4().hex}"
    now = time.time()
    idle_s = min(payload.idle_timeout_s or state.settings.session_idle_s, state.settings.session_idle_s)
    queued = StatusEvent(job_id=session_id, state=JobState.QUEUED, stage="gateway", at=now, progress=0.0,
                         avatar_id=payload.avatar_id, voice_id=payload.voice_id, created_at=now,
                         message="session accepted", tenant=who.tenant)
    state.board.apply_status(queued)
    await state.kafka.send_status(queued)
    job = JobRef(job_id=session_id, avatar_id=payload.avatar_id, voice_id=payload.voice_id,
                 options=payload.options, submitted_at=now, tenant=who.tenant)
    await state.kafka.send_session_input(SessionInputRecord(
        session_id=session_id, message=SessionOpen(job=job, idle_timeout_s=idle_s), sent_at=now))
    return json_response(SessionResponse(
        session_id=session_id, state=JobState.QUEUED.value, stream_url=f"/api/v1/sessions/{session_id}/stream",
        status_url=f"/api/v1/status/{session_id}", video_url=f"/api/v1/video/{session_id}"), 201)


def _problem(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"invalid message{f' at {where}' if where else ''}: {first['msg']} (send say, interrupt or end)"


async def _take_input(state: GatewayState, view: JobView, websocket: WebSocket, out: Outbox) -> None:
    """The client's messages onto the session-input topic, until it disconnects."""
    ended = False

    async def answer(reason: str) -> None:
        await out.put(WsError(error=reason).to_json().decode(), state.settings.ws_stall_s)

    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            await answer("send JSON text messages: say, interrupt or end")
            continue
        try:
            said = CLIENT_MESSAGES.validate_json(text)
        except ValidationError as exc:
            await answer(_problem(exc))
            continue
        if ended or view.status.state.final:
            await answer(f"session {view.job_id!r} has ended; open a new one")
            continue
        try:
            await state.kafka.send_session_input(SessionInputRecord(session_id=view.job_id, message=said,
                                                                    sent_at=time.time()))
        except Exception:  # the broker's trouble: the client may send it again
            log.warning("session %s: input not written to Kafka", view.job_id, exc_info=True)
            await answer("the message could not be taken (the broker did not answer); send it again")
            continue
        ended = isinstance(said, SessionEnd)


def _why_it_ended(view: JobView) -> str:
    return view.session_said or ""


async def session_stream(websocket: WebSocket) -> None:
    """A live session: `say`/`interrupt`/`end` in; status, init, media segments, captions,
    end out (the job stream's protocol)."""
    state: GatewayState = websocket.app.state.gateway
    session_id = websocket.path_params["session_id"]
    await websocket.accept(subprotocol=ticket_protocol(websocket.scope))
    try:
        raw = websocket.query_params.get("from_seq", "0")
        view = visible(websocket, state.board.get(session_id))
        if not raw.isdigit():
            return await relay._refuse(websocket, relay.CODE_BAD_REQUEST, "from_seq must be an integer >= 0")
        if view is None or not session_id.startswith(SESSION_ID_PREFIX):
            return await relay._refuse(websocket, relay.CODE_UNKNOWN_JOB, f"unknown session {session_id!r}")
        await relay._relay(state, view, websocket, int(raw), functools.partial(_take_input, state, view),
                           _why_it_ended)
    except WebSocketDisconnect:
        log.info("client left session %s", session_id)


async def not_upgraded(request: Request) -> Response:
    """A plain GET of the session's socket: a clear 426, as for a job's stream."""
    if not JOB_ID.match(str(request.path_params["session_id"])):
        raise ApiError(400, "invalid session id: 1-64 of A-Z a-z 0-9 _ - (not starting with _ or -)")
    return await relay.not_upgraded(request)


routes: list[BaseRoute] = [
    Route("/api/v1/sessions", open_session, methods=["POST"]),
    WebSocketRoute("/api/v1/sessions/{session_id}/stream", session_stream),
    Route("/api/v1/sessions/{session_id}/stream", not_upgraded, include_in_schema=False),
]
