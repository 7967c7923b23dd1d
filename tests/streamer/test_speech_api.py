"""Speech endpoints on their own routes (real Piper, real SDK against the fake API)."""

from __future__ import annotations

import io
import logging
import struct
import tempfile
import wave
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import httpx
import numpy as np
import pytest
from starlette.applications import Starlette

from core.settings import ElevenLabsSettings
from core.store import MediaStore
from streamer import speech_api
from streamer.app import EXCEPTION_HANDLERS
from streamer.jobs import JobBoard
from streamer.metrics import GatewayMetrics
from streamer.settings import GatewaySettings
from streamer.workers import WorkerBoard
from tests.fakes.elevenlabs_server import FakeElevenLabs, speak


def _settings(server: FakeElevenLabs | None, key: str | None = None) -> GatewaySettings:
    if server is None:
        return GatewaySettings()
    return GatewaySettings(elevenlabs=ElevenLabsSettings(api_key=key or server.api_key, base_url=server.url,
                                                         stall_timeout_s=1.0, max_retries=1))


async def _client(settings: GatewaySettings) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=speech_api.routes, exception_handlers=EXCEPTION_HANDLERS)  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory() as data_dir:  # where cloned voices' owners are kept
        app.state.gateway = SimpleNamespace(settings=settings, metrics=GatewayMetrics(JobBoard(), WorkerBoard()),
                                            store=MediaStore(Path(data_dir)))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
            yield http


@pytest.fixture
async def local() -> AsyncIterator[httpx.AsyncClient]:
    async for http in _client(_settings(None)):
        yield http


@pytest.fixture
async def remote(elevenlabs: FakeElevenLabs) -> AsyncIterator[httpx.AsyncClient]:
    async for http in _client(_settings(elevenlabs)):
        yield http


def _wav_bytes(seconds: float = 1.0, rate: int = 22050) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(rate)
        t = np.arange(int(seconds * rate)) / rate
        w.writeframes((np.sin(2 * np.pi * 220 * t) * 8000).astype("<i2").tobytes())
    return out.getvalue()


def _pcm_of(wav: bytes) -> tuple[int, bytes]:
    assert wav[:4] == b"RIFF" and wav[8:16] == b"WAVEfmt " and wav[36:40] == b"data"
    rate = struct.unpack("<I", wav[24:28])[0]
    return rate, wav[44:]


async def test_voices_local_only_without_a_key(local: httpx.AsyncClient) -> None:
    body = (await local.get("/api/v1/voices")).json()
    assert [v["voice_id"] for v in body["voices"]] == ["piper:joe"] and body["warnings"] == []


async def test_voices_include_elevenlabs_and_are_cached(remote: httpx.AsyncClient,
                                                        elevenlabs: FakeElevenLabs) -> None:
    ids = {v["voice_id"] for v in (await remote.get("/api/v1/voices")).json()["voices"]}
    assert {"piper:joe", "elevenlabs:fake-rachel", "elevenlabs:fake-adam"} <= ids
    elevenlabs.voices["fake-later"] = "Later"
    try:
        again = {v["voice_id"] for v in (await remote.get("/api/v1/voices")).json()["voices"]}
        assert "elevenlabs:fake-later" not in again  # served from the cache
    finally:
        del elevenlabs.voices["fake-later"]


async def test_voices_with_a_bad_key_warn_without_the_key(elevenlabs: FakeElevenLabs,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async for http in _client(_settings(elevenlabs, key="sk-bad-key-555")):
        response = await http.get("/api/v1/voices")
        assert response.status_code == 200
        body = response.json()
        assert [v["voice_id"] for v in body["voices"]] == ["piper:joe"]
        assert "API key" in body["warnings"][0]
        assert "sk-bad-key-555" not in response.text and "sk-bad-key-555" not in caplog.text


async def test_tts_local_voice_streams_a_wav(local: httpx.AsyncClient) -> None:
    response = await local.post("/api/v1/tts", json={"text": "Hello there. How are you today?"})
    assert response.status_code == 200 and response.headers["content-type"] == "audio/wav"
    rate, pcm = _pcm_of(response.content)
    samples = np.frombuffer(pcm, "<i2")
    assert rate == 16000 and 1.0 < len(samples) / rate < 5.0
    assert np.sqrt(np.mean(samples.astype(np.float64) ** 2)) > 300


async def test_tts_elevenlabs_voice_is_what_the_api_streamed(remote: httpx.AsyncClient,
                                                             elevenlabs: FakeElevenLabs) -> None:
    response = await remote.post("/api/v1/tts", json={"text": "One two. Three four!",
                                                      "voice_id": "elevenlabs:fake-adam"})
    assert response.status_code == 200, response.text
    assert _pcm_of(response.content) == (16000, speak("One two.") + speak("Three four!"))
    assert elevenlabs.requests[-1]["json"]["previous_text"] == "One two."  # type: ignore[index]


@pytest.mark.parametrize(("voice_id", "status", "reason"), [
    ("nobody:x", 404, "backend 'nobody' is not configured"),
    ("piper:jane", 404, "unknown voice_id"),
    ("elevenlabs:ghost", 404, "unknown ElevenLabs voice 'ghost'"),
])
async def test_tts_unknown_voices(remote: httpx.AsyncClient, voice_id: str, status: int, reason: str) -> None:
    response = await remote.post("/api/v1/tts", json={"text": "Hi.", "voice_id": voice_id})
    assert response.status_code == status and reason in response.json()["error"]


async def test_tts_bad_input_and_no_key(local: httpx.AsyncClient) -> None:
    json_type = {"content-type": "application/json"}
    assert (await local.post("/api/v1/tts", content=b"{nope", headers=json_type)).status_code == 400
    for headers in ({"content-type": "text/plain"}, {}):  # a cross-site form's types, or none
        response = await local.post("/api/v1/tts", content=b'{"text": "Hi."}', headers=headers)
        assert response.status_code == 415 and "application/json" in response.json()["error"]
    assert (await local.post("/api/v1/tts", json={"text": "  "})).status_code == 422
    for text in ("Hi\u0000there.", "Bell\u0007.", "C1\u0085."):  # was a 500 for the NUL
        response = await local.post("/api/v1/tts", json={"text": text})
        assert response.status_code == 422 and "control character" in response.text, text
    assert (await local.post("/api/v1/tts", json={"text": "x" * 5001})).status_code == 422
    response = await local.post("/api/v1/tts", json={"text": "Hi.", "voice_id": "elevenlabs:fake-adam"})
    assert response.status_code == 404 and "not configured" in response.json()["error"]


async def test_tts_upstream_failure_is_a_502_without_the_key(remote: httpx.AsyncClient,
                                                             elevenlabs: FakeElevenLabs) -> None:
    elevenlabs.faults.append("401")
    response = await remote.post("/api/v1/tts", json={"text": "Hi.", "voice_id": "elevenlabs:fake-adam"})
    assert response.status_code == 502 and "API key" in response.json()["error"]
    assert elevenlabs.api_key not in response.text


async def test_clone_needs_a_key(local: httpx.AsyncClient) -> None:
    response = await local.post("/api/v1/voices/clone", data={"name": "Me"},
                                files=[("files", ("a.wav", _wav_bytes(), "audio/wav"))])
    assert response.status_code == 400 and "ELEVENLABS_API_KEY" in response.json()["error"]


async def test_clone_makes_a_voice_that_is_then_listed(remote: httpx.AsyncClient,
                                                       elevenlabs: FakeElevenLabs) -> None:
    await remote.get("/api/v1/voices")  # fill the cache first: a clone must refresh it
    response = await remote.post("/api/v1/voices/clone", data={"name": "Me", "description": "test"},
                                 files=[("files", ("a.wav", _wav_bytes(1.5), "audio/wav")),
                                        ("files", ("noext", _wav_bytes(0.5, 16000), "application/octet-stream"))])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["voice_id"].startswith("elevenlabs:clone-") and body["samples"] == 2
    assert body["duration_s"] == pytest.approx(2.0, abs=0.01)
    ids = {v["voice_id"] for v in (await remote.get("/api/v1/voices")).json()["voices"]}
    assert body["voice_id"] in ids


@pytest.mark.parametrize(("files", "data", "status", "reason"), [
    ([("files", ("fake.wav", b"this is text, not sound" * 50, "audio/wav"))], {"name": "Me"}, 415,
     "fake.wav is not usable audio"),
    ([("files", ("big.wav", b"\0" * (10 * 1024 * 1024 + 1), "audio/wav"))], {"name": "Me"}, 413, "big.wav is over"),
    ([("notes", ("n.txt", b"no audio here", "text/plain"))], {"name": "Me"}, 422, "at least one audio sample"),
    ([("files", ("a.wav", _wav_bytes(0.2), "audio/wav"))], {}, 422, "name"),
    ([("files", ("a.wav", _wav_bytes(0.2), "audio/wav"))], {"name": "Me\u0000"}, 422, "'name': control character U+0000"),
    ([("files", ("a.wav", _wav_bytes(0.2), "audio/wav"))], {"name": "Me", "description": "\u001b[31m"}, 422,
     "'description': control character U+001B"),
])
async def test_clone_rejects_bad_uploads(remote: httpx.AsyncClient, files: list[object], data: dict[str, str],
                                         status: int, reason: str) -> None:
    response = await remote.post("/api/v1/voices/clone", data=data, files=files or None)  # type: ignore[arg-type]
    assert response.status_code == status, response.text
    assert reason in response.json()["error"]


async def test_clone_takes_only_multipart(remote: httpx.AsyncClient) -> None:
    for headers, body in (({"content-type": "application/json"}, b'{"name": "Me"}'), ({}, b"name=Me")):
        response = await remote.post("/api/v1/voices/clone", content=body, headers=headers)
        assert response.status_code == 415 and "multipart/form-data" in response.json()["error"]


def test_known_voices_depend_on_the_key() -> None:
    assert speech_api.is_known_voice("piper:joe", GatewaySettings())
    assert not speech_api.is_known_voice("elevenlabs:abc", GatewaySettings())
    keyed = replace(GatewaySettings(), elevenlabs=ElevenLabsSettings(api_key="k"))
    assert speech_api.is_known_voice("elevenlabs:abc", keyed) and not speech_api.is_known_voice("elevenlabs:", keyed)


async def test_local_synthesis_leaves_the_event_loop_free(local: httpx.AsyncClient) -> None:
    import asyncio
    import time

    text = " ".join(["This sentence keeps the local voice busy for a while."] * 6)
    finished: dict[str, float] = {}

    async def speak() -> None:
        response = await local.post("/api/v1/tts", json={"text": text})
        assert response.status_code == 200
        finished["tts"] = time.monotonic()

    async def list_voices() -> None:
        await asyncio.sleep(0.05)  # let the synthesis start first
        for _ in range(5):
            assert (await local.get("/api/v1/voices")).status_code == 200
        finished["voices"] = time.monotonic()

    await asyncio.gather(speak(), list_voices())
    assert finished["voices"] < finished["tts"]
