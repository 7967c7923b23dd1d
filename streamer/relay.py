"""WS /api/v1/stream/{job_id}: the job's segments, in order, to every watching client.

Sends a status message, then `init` (JSON, with the MSE type) and the init
segment, then media segments from `?from_seq=N` (default 0) with no gap or
duplicate, then `end`. Segments no longer in memory are read from the store.
"""

from __future__ import annotations

import logging

from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from schemas.status import JobState
from schemas.ws import KIND_INIT, KIND_MEDIA, MediaMessage, WsEnd, WsError, WsInit, WsStatus
from streamer.api import with_urls
from streamer.jobs import JobView
from streamer.state import GatewayState

log = logging.getLogger(__name__)
WAIT_S = 5.0


def _init(state: GatewayState, view: JobView) -> bytes | None:
    if view.init is not None:
        return view.init
    path = state.store.segment_path(view.job_id, "init", 0)
    return path.read_bytes() if path.exists() else None


def _media(state: GatewayState, view: JobView, seq: int) -> MediaMessage | None:
    if seq in view.media:
        meta, data = view.media[seq]
        return MediaMessage(KIND_MEDIA, seq, meta.start_s, meta.duration_s, data)
    path = state.store.segment_path(view.job_id, "media", seq)
    if path.exists():  # timing is not kept on disk; clients place segments by their own tfdt
        return MediaMessage(KIND_MEDIA, seq, 0.0, 0.0, path.read_bytes())
    return None


def _total(view: JobView) -> int | None:
    if view.total is not None:
        return view.total
    if view.status.state is JobState.COMPLETED:
        return view.status.segments
    return None


async def stream(websocket: WebSocket) -> None:
    state: GatewayState = websocket.app.state.gateway
    job_id = websocket.path_params["job_id"]
    try:
        next_seq = max(0, int(websocket.query_params.get("from_seq", "0")))
    except ValueError:
        next_seq = -1
    await websocket.accept()
    try:
        view = state.board.get(job_id)
        if view is None or next_seq < 0:
            reason = f"unknown job {job_id!r}" if view is None else "from_seq must be an integer >= 0"
            await websocket.send_text(WsError(error=reason).to_json().decode())
            await websocket.close(code=4404 if view is None else 4400, reason=reason)
            return
        await _relay(state, view, websocket, next_seq)
    except WebSocketDisconnect:
        log.info("client left job %s", job_id)


async def _relay(state: GatewayState, view: JobView, websocket: WebSocket, next_seq: int) -> None:
    init_sent = False
    last_status = None
    while True:
        if view.status != last_status:
            last_status = view.status
            await websocket.send_text(WsStatus(status=with_urls(view.status)).to_json().decode())
        if not init_sent and (init := _init(state, view)) is not None:
            await websocket.send_text(WsInit(mime=view.mime).to_json().decode())
            await websocket.send_bytes(MediaMessage(KIND_INIT, 0, 0.0, 0.0, init).pack())
            init_sent = True
        while init_sent and (message := _media(state, view, next_seq)) is not None:
            await websocket.send_bytes(message.pack())
            next_seq += 1
        total = _total(view)
        if total is not None and next_seq >= total:
            await websocket.send_text(WsEnd(segments=total, state=view.status.state.value).to_json().decode())
            await websocket.close()
            return
        if view.status.state in (JobState.FAILED, JobState.CANCELLED):
            await websocket.send_text(WsError(error=view.status.error or view.status.state.value).to_json().decode())
            await websocket.close(code=4500 if view.status.state is JobState.FAILED else 4410)
            return
        await view.wait(WAIT_S)


routes: list[BaseRoute] = [WebSocketRoute("/api/v1/stream/{job_id}", stream)]
