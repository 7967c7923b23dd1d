"""Speech endpoints: the voice list, instant voice cloning, and text to WAV streamed as spoken.

Synthesis runs through the same backends as the tts stage (models/tts_*), built
on first use and kept on ``app.state.speech``; Piper runs in a thread, so the
event loop keeps serving while it speaks.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections.abc import AsyncIterator

from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from core.voices import build_registry
from core.voices import is_known_voice as _known
from models.speech.audio_probe import NotAudioError, probe_audio
from models.speech.sentences import split_sentences
from models.speech.tts_backend import SpeechBackend, SpeechError, SpeechRejected, VoiceRegistry
from models.speech.tts_elevenlabs import ElevenLabsBackend
from models.speech.tts_piper import PiperBackend, PiperSpeaker
from schemas.base import no_control_chars
from schemas.options import AUDIO_SAMPLE_RATE_HZ
from schemas.speech import MAX_VOICE_NAME_CHARS, CloneResponse, TtsRequest, Voice, VoiceList
from streamer.api import error, json_response, read_model
from streamer.owners import VOICES, Owners
from streamer.settings import GatewaySettings
from streamer.tenants import caller

log = logging.getLogger(__name__)

VOICES_CACHE_S = 300.0
MAX_TTS_BODY_BYTES = 64 * 1024
MAX_CLONE_FILES = 25
MAX_CLONE_FILE_BYTES = 10 * 1024 * 1024
MAX_CLONE_TOTAL_BYTES = 50 * 1024 * 1024


class SpeechService:
    """The gateway's voices: registry, and the ElevenLabs list cached for a few minutes."""

    def __init__(self, settings: GatewaySettings) -> None:
        piper = PiperBackend(lambda: PiperSpeaker(out_rate_hz=AUDIO_SAMPLE_RATE_HZ))
        self.registry: VoiceRegistry = build_registry(piper, settings.elevenlabs)
        self._cache: tuple[float, VoiceList] | None = None

    @property
    def elevenlabs(self) -> ElevenLabsBackend | None:
        backend = self.registry.backend(ElevenLabsBackend.prefix)
        return backend if isinstance(backend, ElevenLabsBackend) else None

    async def voices(self) -> VoiceList:
        if self._cache is not None and time.monotonic() - self._cache[0] < VOICES_CACHE_S:
            return self._cache[1]
        found: list[Voice] = []
        warnings: list[str] = []
        for backend in self.registry.backends:
            try:
                found += [Voice(voice_id=v.voice_id, name=v.name, backend=v.backend, language=v.language)
                          for v in await backend.voices()]
            except SpeechError as exc:
                warnings.append(f"{backend.prefix} voices unavailable: {exc}")
        listing = VoiceList(voices=found, warnings=warnings)
        if not warnings:
            self._cache = (time.monotonic(), listing)
        return listing

    def forget_voices(self) -> None:
        self._cache = None


def is_known_voice(voice_id: str, settings: GatewaySettings) -> bool:
    """For POST /api/v1/generate: local voices, or ElevenLabs ones when a key is configured."""
    return _known(voice_id, settings.elevenlabs)


def _service(request: Request) -> SpeechService:
    state = request.app.state
    if getattr(state, "speech", None) is None:
        state.speech = SpeechService(state.gateway.settings)
    return state.speech  # type: ignore[no-any-return]


async def voices(request: Request) -> Response:
    """Local voices always; ElevenLabs voices when a key is configured (cached); another
    tenant's cloned voices are left out."""
    listing = await _service(request).voices()
    owners, who = _owners(request), caller(request)
    mine = [v for v in listing.voices if who.sees(owners.get(VOICES, v.voice_id))]
    return json_response(listing.model_copy(update={"voices": mine}))


def _owners(request: Request) -> Owners:
    return Owners(request.app.state.gateway.store.root)


def _wav_header(sample_rate_hz: int) -> bytes:
    """A streaming WAV header: sizes unknown up front, so they are set to the maximum."""
    unknown = 0xFFFFFFFF
    return (b"RIFF" + struct.pack("<I", unknown) + b"WAVEfmt " +
            struct.pack("<IHHIIHH", 16, 1, 1, sample_rate_hz, sample_rate_hz * 2, 2, 16) +
            b"data" + struct.pack("<I", unknown))


async def _pieces(backend: SpeechBackend, voice: str, sentences: list[str]) -> AsyncIterator[bytes]:
    for i, text in enumerate(sentences):
        async for pcm in backend.stream(voice, text, sentences[i - 1] if i else None,
                                        sentences[i + 1] if i + 1 < len(sentences) else None):
            yield pcm.astype("<i2").tobytes()


def _speech_error(exc: SpeechError) -> Response:
    if isinstance(exc, SpeechRejected) and "unknown" in str(exc):
        return error(404, str(exc))
    return error(502, f"speech synthesis failed: {exc}")


async def tts(request: Request) -> Response:
    """Text to speech only: a WAV file, streamed sentence by sentence as it is synthesized."""
    payload = await read_model(request, TtsRequest, MAX_TTS_BODY_BYTES)
    try:
        backend, voice = _service(request).registry.resolve(payload.voice_id)
        if not is_known_voice(payload.voice_id, request.app.state.gateway.settings) or (
                not caller(request).sees(_owners(request).get(VOICES, payload.voice_id))):
            raise LookupError(f"unknown voice_id {payload.voice_id!r}")
    except LookupError as exc:
        return error(404, str(exc))
    sentences = split_sentences(payload.text)
    request.app.state.gateway.metrics.tts_characters.labels(backend.prefix).inc(sum(map(len, sentences)))
    pieces = _pieces(backend, voice, sentences)
    try:  # the first piece decides the status code; later failures can only cut the stream short
        first = await anext(pieces)
    except (SpeechError, LookupError) as exc:
        return _speech_error(exc) if isinstance(exc, SpeechError) else error(404, str(exc))
    except StopAsyncIteration:
        return error(422, "the text has no words to speak")

    async def stream() -> AsyncIterator[bytes]:
        yield _wav_header(backend.sample_rate_hz) + first
        try:
            async for pcm in pieces:
                yield pcm
        except SpeechError as exc:
            log.warning("tts stream cut short: %s", exc)

    return StreamingResponse(stream(), media_type="audio/wav", headers={"Cache-Control": "no-store"})


async def clone(request: Request) -> Response:
    """Instant voice clone (ElevenLabs) from multipart audio samples `files` and a `name`."""
    remote = _service(request).elevenlabs
    if remote is None:
        return error(400, "voice cloning needs ElevenLabs: ELEVENLABS_API_KEY is not configured")
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        return error(415, "expected multipart/form-data with the audio samples as 'files' parts")
    if int(request.headers.get("content-length") or 0) > MAX_CLONE_TOTAL_BYTES:
        return error(413, f"upload over {MAX_CLONE_TOTAL_BYTES} bytes")
    try:
        form = await request.form(max_files=MAX_CLONE_FILES, max_fields=10)
    except MultiPartException as exc:
        return error(400, f"not a valid multipart form: {exc.message}")
    try:
        name = str(form.get("name") or "").strip()
        description = str(form.get("description") or "") or None
        files = [f for f in form.getlist("files") if isinstance(f, UploadFile)]
        if not name or len(name) > MAX_VOICE_NAME_CHARS:
            return error(422, f"a name of 1-{MAX_VOICE_NAME_CHARS} characters is required")
        for field, value in (("name", name), ("description", description or "")):
            try:
                no_control_chars(value)
            except ValueError as exc:
                return error(422, f"'{field}': {exc}")
        if not files:
            return error(422, "at least one audio sample is required in the 'files' field")
        samples: list[tuple[str, bytes, str]] = []
        duration_s = 0.0
        for upload in files:
            label = upload.filename or "sample"
            if (upload.size or 0) > MAX_CLONE_FILE_BYTES:
                return error(413, f"{label} is over {MAX_CLONE_FILE_BYTES} bytes")
            data = await upload.read()
            try:
                info = await asyncio.to_thread(probe_audio, data)
            except NotAudioError as exc:
                return error(415, f"{label} is not usable audio: {exc}")
            duration_s += info.duration_s
            samples.append((label, data, upload.content_type or "application/octet-stream"))
    finally:
        await form.close()
    try:
        voice_id = await remote.clone(name, samples, description)
    except SpeechError as exc:
        return error(502, f"voice cloning failed: {exc}")
    _service(request).forget_voices()
    tenant = caller(request).tenant
    _owners(request).set(VOICES, voice_id, tenant)
    return json_response(CloneResponse(voice_id=voice_id, name=name, samples=len(samples),
                               duration_s=round(duration_s, 3), tenant=tenant), 201)


routes: list[BaseRoute] = [
    Route("/api/v1/voices", voices),
    Route("/api/v1/voices/clone", clone, methods=["POST"]),
    Route("/api/v1/tts", tts, methods=["POST"]),
]
