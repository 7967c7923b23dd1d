"""WS /api/v1/stream/{job_id}: the job's segments, in order, to every watching client.

Sends a status message, then `init` (JSON, with the MSE type) and the init
segment, then media segments from `?from_seq=N` (default 0) with no gap or
duplicate, captions as they come, then `end`. Segments no longer in memory are
read from the store together with the SegmentMeta stored beside them, so a segment's
start_s/duration_s always come from its record's metadata, never from parsing the
MP4. Each client has its own bounded outbox (see outbox.py).
Protocol: docs/websocket.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from models.media.mp4_boxes import DEFAULT_MIME, mime_codecs
from schemas.base import Message
from schemas.status import JobState
from schemas.usage import UsageRecord
from schemas.ws import (
    KIND_INIT,
    KIND_MEDIA,
    MediaMessage,
    WsCaptions,
    WsEnd,
    WsError,
    WsInit,
    WsStatus,
)
from streamer.api import error, job_id_of, with_urls
from streamer.jobs import JobView
from streamer.outbox import Close, Item, Outbox
from streamer.state import GatewayState
from streamer.tenants import visible
from streamer.tickets import UrlSigner, signer_for, ticket_protocol
from streamer.ws_close import fit_reason

log = logging.getLogger(__name__)
IDLE_WAIT_S = 5.0      # nothing expected: wake on the next Kafka record or this
BEHIND_WAIT_S = 0.2    # a later segment exists but this one is not here yet: poll the store
CLOSE_TIMEOUT_S = 1.0

CODE_BAD_REQUEST, CODE_UNKNOWN_JOB, CODE_GONE = 4400, 4404, 4410
CODE_TOO_SLOW, CODE_JOB_FAILED = 4408, 4500
Receive = Callable[[WebSocket, Outbox], Coroutine[Any, Any, None]]  # reads what the client sends
Closing = Callable[[JobView], str]  # the close reason after `end`


def _text(message: Message) -> str:
    return message.to_json().decode()


def _init(state: GatewayState, view: JobView) -> tuple[bytes, str] | None:
    """The init segment and its MSE type, from memory or else from the store."""
    if view.init is not None:
        data, mime = view.init, view.mime
    else:
        path = state.store.segment_path(view.job_id, "init", 0)
        if not path.exists():
            return None
        data = path.read_bytes()
        meta = state.store.segment_meta(view.job_id, "init", 0)
        mime = None if meta is None else meta.mime
    return data, mime or mime_codecs(data) or DEFAULT_MIME


def _media(state: GatewayState, view: JobView, seq: int) -> MediaMessage | None:
    if seq in view.media:
        meta, data = view.media[seq]
        return MediaMessage(KIND_MEDIA, seq, meta.start_s, meta.duration_s, data)
    path = state.store.segment_path(view.job_id, "media", seq)
    if not path.exists():
        return None
    data = path.read_bytes()
    stored = state.store.segment_meta(view.job_id, "media", seq)
    if stored is None:  # stored without its record's metadata: the timing is unknown
        log.debug("segment %d of job %s has no stored metadata; sending 0 s timing", seq, view.job_id)
        return MediaMessage(KIND_MEDIA, seq, 0.0, 0.0, data)
    return MediaMessage(KIND_MEDIA, seq, stored.start_s, stored.duration_s, data)


def _total(view: JobView) -> int | None:
    if view.total is not None:
        return view.total
    if view.status.state is JobState.COMPLETED:
        return view.status.segments
    return None


async def _produce(state: GatewayState, view: JobView, out: Outbox, next_seq: int,
                   signer: UrlSigner | None = None, closing: Closing | None = None) -> bool:
    """Queues everything the client should get; False when the client fell too far behind.
    `closing` gives the reason the socket closes with after `end` (a live session's)."""
    stall_s = state.settings.ws_stall_s
    init: tuple[bytes, str] | None = None
    first_seq, last_status = next_seq, None
    captions_sent: set[int] = set()
    while True:
        changed = view.changed  # a change while we await the outbox below is not missed
        items: list[Item] = []
        if view.status != last_status:
            last_status = view.status
            items.append(_text(WsStatus(status=with_urls(view.status, signer))))
        for seq in sorted(s for s in view.captions if s >= first_seq and s not in captions_sent):
            captions_sent.add(seq)
            items.append(_text(WsCaptions(seq=seq, words=view.captions[seq].words)))
        for item in items:
            if not await out.put(item, stall_s):
                return False
        if init is None and (init := _init(state, view)) is not None:
            data, mime = init
            for item in (_text(WsInit(mime=mime)), MediaMessage(KIND_INIT, 0, 0.0, 0.0, data).pack()):
                if not await out.put(item, stall_s):
                    return False
        while init is not None and (message := _media(state, view, next_seq)) is not None:
            if not await out.put(message.pack(), stall_s):
                return False
            next_seq += 1
        total = _total(view)
        if view.deleted:
            await out.put(_text(WsError(error="the job was deleted", code=CODE_GONE)), stall_s)
            await out.put(Close(CODE_GONE, "job deleted"), stall_s)
            return True
        if total is not None and next_seq >= total:
            await out.put(_text(WsEnd(segments=total, state=view.status.state.value)), stall_s)
            await out.put(Close(reason="" if closing is None else closing(view)), stall_s)
            return True
        if view.status.state in (JobState.FAILED, JobState.CANCELLED):
            code = CODE_JOB_FAILED if view.status.state is JobState.FAILED else CODE_GONE
            reason = view.status.error or view.status.state.value
            await out.put(_text(WsError(error=reason, code=code)), stall_s)
            await out.put(Close(code, view.status.state.value), stall_s)
            return True
        behind = total is not None or any(seq > next_seq for seq in view.media)
        await view.wait(BEHIND_WAIT_S if behind else IDLE_WAIT_S, since=changed)


@dataclass
class Sent:
    """Bytes sent to one client: the gateway's counter, and this stream's usage."""

    metric: Counter
    bytes: int = 0

    def add(self, size: int) -> None:
        self.metric.inc(size)
        self.bytes += size


async def _send(websocket: WebSocket, out: Outbox, sent: Sent) -> None:
    while True:
        item = await out.get()
        if isinstance(item, Close):
            await websocket.close(code=item.code, reason=fit_reason(item.reason))
            return
        if isinstance(item, bytes):
            await websocket.send_bytes(item)
            sent.add(len(item))
        else:
            await websocket.send_text(item)
            sent.add(len(item.encode()))


async def _account(state: GatewayState, job_id: str, sent: Sent) -> None:
    """The stream's bytes as a piece of the job's usage; lost if the gateway dies first."""
    if sent.bytes:
        record = UsageRecord(job_id=job_id, stage="stream", part=uuid.uuid4().hex,
                             bytes_streamed=sent.bytes)
        try:
            await state.kafka.send_usage(record)
        except Exception:
            log.warning("usage of a stream of job %s not recorded", job_id, exc_info=True)


async def _receive(websocket: WebSocket, out: Outbox) -> None:
    """Client messages are not part of the protocol yet; reading them is how a disconnect shows."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


async def _refuse(websocket: WebSocket, code: int, reason: str) -> None:
    await websocket.send_text(_text(WsError(error=reason, code=code)))
    await websocket.close(code=code, reason=fit_reason(reason))


async def _drop(websocket: WebSocket, reason: str) -> None:
    """The client's socket is full, so neither message may ever go out: bounded waits, then leave."""
    with contextlib.suppress(Exception):
        message = _text(WsError(error=reason, code=CODE_TOO_SLOW))
        await asyncio.wait_for(websocket.send_text(message), CLOSE_TIMEOUT_S)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(websocket.close(code=CODE_TOO_SLOW, reason="client too slow"), CLOSE_TIMEOUT_S)


async def stream(websocket: WebSocket) -> None:
    """Watch a job: status, init, media segments from `from_seq`, captions, end."""
    state: GatewayState = websocket.app.state.gateway
    job_id = websocket.path_params["job_id"]
    await websocket.accept(subprotocol=ticket_protocol(websocket.scope))
    try:
        raw = websocket.query_params.get("from_seq", "0")
        view = visible(websocket, state.board.get(job_id))
        if not raw.isdigit():
            return await _refuse(websocket, CODE_BAD_REQUEST, "from_seq must be an integer >= 0")
        if view is None:
            return await _refuse(websocket, CODE_UNKNOWN_JOB, f"unknown job {job_id!r}")
        await _relay(state, view, websocket, int(raw))
    except WebSocketDisconnect:
        log.info("client left job %s", job_id)




async def _relay(state: GatewayState, view: JobView, websocket: WebSocket, from_seq: int,
                 receive: Receive = _receive, closing: Closing | None = None) -> None:
    """`receive` reads the client's messages (a live session's input; for a job, only the
    disconnect) and may answer through the outbox."""
    settings = state.settings
    out = Outbox(settings.ws_queue_bytes, settings.ws_queue_messages)
    producer = asyncio.create_task(_produce(state, view, out, from_seq, signer_for(websocket.app), closing))
    sent = Sent(state.metrics.sent_bytes)
    sender = asyncio.create_task(_send(websocket, out, sent))
    receiver = asyncio.create_task(receive(websocket, out))
    tasks = {producer, sender, receiver}
    state.metrics.websocket_clients.inc()
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if producer in done and producer.exception() is None and producer.result():
            await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        elif producer in done and producer.exception() is None:
            sender.cancel()
            log.warning("dropping a slow client of job %s (%d bytes queued)", view.job_id, out.queued_bytes)
            await _drop(websocket, f"client too slow: more than {settings.ws_queue_bytes} bytes "
                                   f"queued for {settings.ws_stall_s}s")
    finally:
        state.metrics.websocket_clients.dec()
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        await _account(state, view.job_id, sent)
    for result in results:
        if isinstance(result, Exception) and not isinstance(result, (WebSocketDisconnect, RuntimeError)):
            log.warning("relay of job %s ended with %r", view.job_id, result)


async def not_upgraded(request: Request) -> Response:
    """A plain GET of the stream: a clear 426 instead of a bare 404 (400 for a bad id first)."""
    if "job_id" in request.path_params:  # a session's socket checks its own id
        job_id_of(request)
    if not request.query_params.get("from_seq", "0").isdigit():
        return error(400, "from_seq must be an integer >= 0")
    response = error(426, "this is a WebSocket endpoint: connect with `Upgrade: websocket` (docs/websocket.md)")
    response.headers["Upgrade"] = "websocket"
    return response


routes: list[BaseRoute] = [WebSocketRoute("/api/v1/stream/{job_id}", stream),
                           Route("/api/v1/stream/{job_id}", not_upgraded, include_in_schema=False)]
