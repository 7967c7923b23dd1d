"""A local stand-in for the ElevenLabs HTTP API, for tests of the real SDK.

Implements the endpoints the service uses, with the documented paths and JSON
fields: streaming TTS (raw PCM), the with-timestamps stream (one JSON object per
line: base64 audio + character alignment), the voice list and instant voice
cloning. Each character is spoken as 40 ms of its own tone, so audio is
deterministic and checkable. Faults (429 with Retry-After, 500, 401, quota, a
stall midway) are queued by tests and hit the next speech request.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import numpy as np
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

CHAR_S = 0.04
RATE_HZ = 16000
CHARS_PER_CHUNK = 5


def speak(text: str) -> bytes:
    """The fake voice: 40 ms per character, a tone per letter, silence for spaces."""
    n = int(CHAR_S * RATE_HZ)
    t = np.arange(n) / RATE_HZ
    ramp = np.minimum(1.0, np.minimum(np.arange(n), n - 1 - np.arange(n)) / 40.0)
    parts = [np.zeros(n) if c.isspace() else np.sin(2 * np.pi * (180 + 23 * (ord(c) % 29)) * t) * ramp * 8000
             for c in text]
    return (np.concatenate(parts) if parts else np.zeros(0)).astype("<i2").tobytes()


@dataclass
class FakeElevenLabs:
    api_key: str = "sk-test-secret-key-0123456789"
    voices: dict[str, str] = field(default_factory=lambda: {"fake-rachel": "Rachel", "fake-adam": "Adam"})
    faults: deque[str] = field(default_factory=deque)  # "429", "500", "401", "quota", "stall"
    retry_after_s: str = "1"
    requests: list[dict[str, object]] = field(default_factory=list)
    streamed: dict[str, bytes] = field(default_factory=dict)  # text -> PCM of completed streams
    port: int = 0
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
        return JSONResponse({"detail": {"status": code, "message": message}}, status, headers=headers)

    def _gate(self, request: Request, voice_id: str | None = None) -> Response | None:
        if request.headers.get("xi-api-key") != self.api_key:
            return self._error(401, "invalid_api_key", "Invalid API key")
        if voice_id is not None:
            fault = self.faults.popleft() if self.faults else None
            if fault == "429":
                return self._error(429, "too_many_concurrent_requests", "slow down",
                                   {"Retry-After": self.retry_after_s})
            if fault == "500":
                return self._error(500, "internal", "boom")
            if fault == "401":
                return self._error(401, "invalid_api_key", "Invalid API key")
            if fault == "quota":
                return self._error(401, "quota_exceeded", "This request exceeds your quota.")
            if fault == "stall":
                self.faults.appendleft("stall")  # consumed by the stream itself
            if voice_id not in self.voices:
                return self._error(404, "voice_not_found", f"A voice with voice_id {voice_id} was not found.")
        return None

    async def _speech(self, request: Request, timestamps: bool) -> Response:
        voice_id = request.path_params["voice_id"]
        body = await request.json()
        self.requests.append({"path": request.url.path, "query": dict(request.query_params), "json": body})
        refused = self._gate(request, voice_id)
        if refused is not None:
            return refused
        stall = bool(self.faults) and self.faults[0] == "stall"
        if stall:
            self.faults.popleft()
        text = str(body["text"])
        pcm = speak(text)
        # Internal boundaries one byte off the sample grid: clients must carry odd bytes.
        cuts = [min(len(pcm), i * CHARS_PER_CHUNK * 1280 + 1) for i in range(1, len(text) // CHARS_PER_CHUNK + 1)]
        bounds = [0, *[c for c in cuts if c < len(pcm)], len(pcm)]

        async def lines() -> AsyncIterator[bytes]:
            for k in range(len(bounds) - 1):
                if stall and k == (len(bounds) - 1) // 2:
                    await asyncio.sleep(60)
                chars = text[k * CHARS_PER_CHUNK:(k + 1) * CHARS_PER_CHUNK] if k < len(bounds) - 2 else \
                    text[k * CHARS_PER_CHUNK:]
                first = k * CHARS_PER_CHUNK
                piece = pcm[bounds[k]:bounds[k + 1]]
                if timestamps:
                    yield json.dumps({"audio_base64": base64.b64encode(piece).decode(), "alignment": {
                        "characters": list(chars),
                        "character_start_times_seconds": [round((first + i) * CHAR_S, 3) for i in range(len(chars))],
                        "character_end_times_seconds": [round((first + i + 1) * CHAR_S, 3) for i in range(len(chars))],
                    }, "normalized_alignment": None}).encode() + b"\n"
                else:
                    yield piece
                await asyncio.sleep(0.002)
            self.streamed[text] = pcm

        return StreamingResponse(lines(), media_type="application/json" if timestamps else "audio/pcm")

    async def _with_timestamps(self, request: Request) -> Response:
        return await self._speech(request, timestamps=True)

    async def _plain(self, request: Request) -> Response:
        return await self._speech(request, timestamps=False)

    async def _voices(self, request: Request) -> Response:
        refused = self._gate(request)
        if refused is not None:
            return refused
        return JSONResponse({"voices": [{"voice_id": vid, "name": name, "category": "premade",
                                         "labels": {"language": "en"}} for vid, name in self.voices.items()]})

    async def _add_voice(self, request: Request) -> Response:
        refused = self._gate(request)
        if refused is not None:
            return refused
        form = await request.form()
        files = form.getlist("files")
        self.requests.append({"path": request.url.path, "name": form.get("name"),
                              "files": [(f.filename, len(await f.read())) for f in files]})  # type: ignore[union-attr]
        if not files:
            return self._error(422, "invalid_files", "no files")
        voice_id = f"clone-{uuid.uuid4().hex[:8]}"
        self.voices[voice_id] = str(form.get("name"))
        return JSONResponse({"voice_id": voice_id, "requires_verification": False})

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/v1/text-to-speech/{voice_id}/stream/with-timestamps", self._with_timestamps, methods=["POST"]),
            Route("/v1/text-to-speech/{voice_id}/stream", self._plain, methods=["POST"]),
            Route("/v1/voices", self._voices),
            Route("/v1/voices/add", self._add_voice, methods=["POST"]),
        ])

    def start(self, port: int, timeout_s: float = 10.0) -> FakeElevenLabs:
        self.port = port
        self._server = uvicorn.Server(uvicorn.Config(self.app(), host="127.0.0.1", port=port,
                                                     log_level="warning", lifespan="off",
                                                     timeout_graceful_shutdown=2))
        self._thread = threading.Thread(target=self._server.run, name="fake-elevenlabs", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake ElevenLabs server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
