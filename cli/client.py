"""A client of the public API, as a browser or an app would use it: submit, watch, download.

Used by `avatar-stream demo`, the bench command and the end-to-end tests.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson
import websockets

from schemas.ws import KIND_INIT, MediaMessage


class JobFailed(RuntimeError):
    """The job ended in a failed or cancelled state."""


@dataclass
class WatchResult:
    job_id: str
    ttfs_s: float                      # request sent -> first media segment received
    wall_s: float                      # request sent -> end message received
    init: bytes
    media: list[MediaMessage] = field(default_factory=list)
    messages: list[dict[str, object]] = field(default_factory=list)
    arrived_s: list[float] = field(default_factory=list)  # per media segment, since the request

    def waited_in_line(self) -> tuple[int | None, float | None]:
        """The job's first place in line and estimated start, as its status messages told
        them while it waited for a slot (admission); (None, None) when it never waited."""
        for message in self.messages:
            status = message.get("status") if message.get("type") == "status" else None
            if isinstance(status, dict) and status.get("queue_position") is not None:
                return int(status["queue_position"]), status.get("estimated_start_s")  # type: ignore[return-value]
        return None, None

    def lateness_s(self, buffer_s: float = 2.0) -> float:
        """The worst lateness of any segment against real-time playback that starts when the
        first segment arrives, behind `buffer_s`: 0 when the viewer never stalls."""
        if not self.media:
            return 0.0
        t0, s0 = self.arrived_s[0], self.media[0].start_s
        return max(0.0, *(at - (t0 + buffer_s + m.start_s - s0)
                          for m, at in zip(self.media, self.arrived_s, strict=True)))


def _auth(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


async def submit(base_url: str, text: str, api_key: str | None = None, **fields: object) -> str:
    async with httpx.AsyncClient(base_url=base_url, timeout=30, headers=_auth(api_key)) as http:
        response = await http.post("/api/v1/generate", json={"text": text, **fields})
        response.raise_for_status()
        return str(response.json()["job_id"])


async def watch(base_url: str, job_id: str, started: float, from_seq: int = 0,
                timeout_s: float = 300, api_key: str | None = None) -> WatchResult:
    """Reads the stream to its end; `started` is the perf_counter() of the request."""
    ws_url = base_url.replace("http", "ws", 1) + f"/api/v1/stream/{job_id}?from_seq={from_seq}"
    result = WatchResult(job_id=job_id, ttfs_s=-1.0, wall_s=-1.0, init=b"")
    deadline = time.perf_counter() + timeout_s
    async with websockets.connect(ws_url, max_size=64 * 1024 * 1024, open_timeout=30,
                                  additional_headers=_auth(api_key)) as ws:
        while time.perf_counter() < deadline:
            message = await ws.recv()
            if isinstance(message, bytes):
                media = MediaMessage.unpack(message)
                if media.kind == KIND_INIT:
                    result.init = media.data
                    continue
                now = time.perf_counter() - started
                if not result.media:
                    result.ttfs_s = now
                result.media.append(media)
                result.arrived_s.append(now)
                continue
            control = orjson.loads(message)
            result.messages.append(control)
            if control["type"] == "end":
                result.wall_s = time.perf_counter() - started
                return result
            if control["type"] == "error":
                raise JobFailed(f"job {job_id}: {control['error']}")
    raise TimeoutError(f"job {job_id} did not end within {timeout_s}s")


async def generate_and_watch(base_url: str, text: str, api_key: str | None = None,
                             **fields: object) -> WatchResult:
    started = time.perf_counter()
    job_id = await submit(base_url, text, api_key=api_key, **fields)
    return await watch(base_url, job_id, started, api_key=api_key)


async def download(base_url: str, job_id: str, out: Path, api_key: str | None = None) -> int:
    async with httpx.AsyncClient(base_url=base_url, timeout=60, headers=_auth(api_key)) as http:
        response = await http.get(f"/api/v1/video/{job_id}")
        response.raise_for_status()
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(response.content)
        return len(response.content)
