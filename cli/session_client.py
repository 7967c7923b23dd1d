"""A live session's client, as an app would drive one: open it, say, interrupt, end, and
watch its one stream (segments, status, captions) at the same time.

Used by the session tests and `python -m cli.bench_session`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import websockets

from schemas.ws import KIND_INIT, MediaMessage


async def open_session(base_url: str, **fields: object) -> str:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        response = await http.post("/api/v1/sessions", json=fields)
        response.raise_for_status()
        return str(response.json()["session_id"])


@dataclass
class SessionView:
    """Everything the session's socket sent so far, with arrival times (perf_counter)."""

    init: list[bytes] = field(default_factory=list)
    media: list[MediaMessage] = field(default_factory=list)
    arrived: list[float] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str = ""
    closed: bool = False

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("type") == kind]


class SessionSocket:
    """The open socket: `send` a message, `until` something has arrived."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self._ws = ws
        self.view = SessionView()
        self._changed = asyncio.Condition()

    async def send(self, **message: object) -> float:
        """Returns when it was sent (perf_counter)."""
        await self._ws.send(orjson.dumps(message).decode())
        return time.perf_counter()

    async def send_raw(self, data: str | bytes) -> None:
        await self._ws.send(data)

    async def until(self, check: Callable[[SessionView], bool], timeout_s: float = 60.0) -> None:
        async with asyncio.timeout(timeout_s), self._changed:
            await self._changed.wait_for(lambda: check(self.view) or self.view.closed)
        assert check(self.view), f"the socket closed first: {self.view.messages[-3:]}"

    async def read(self) -> None:
        view = self.view
        try:
            async for message in self._ws:
                if isinstance(message, bytes):
                    media = MediaMessage.unpack(message)
                    if media.kind == KIND_INIT:
                        view.init.append(media.data)
                    else:
                        view.media.append(media)
                        view.arrived.append(time.perf_counter())
                else:
                    view.messages.append(orjson.loads(message))
                async with self._changed:
                    self._changed.notify_all()
        finally:
            view.close_code, view.close_reason = self._ws.close_code, self._ws.close_reason or ""
            view.closed = True
            async with self._changed:
                self._changed.notify_all()


@contextlib.asynccontextmanager
async def connect(base_url: str, session_id: str) -> AsyncIterator[SessionSocket]:
    url = base_url.replace("http", "ws", 1) + f"/api/v1/sessions/{session_id}/stream"
    async with websockets.connect(url, max_size=64 * 1024 * 1024, open_timeout=30) as ws:
        socket = SessionSocket(ws)
        reader = asyncio.create_task(socket.read())
        try:
            yield socket
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.ConnectionClosed):
                await reader
