"""ElevenLabs speech through the official SDK: streamed 16 kHz PCM with character timings.

The SDK's own retries are turned off (``max_retries=0``) so that one policy, here,
decides: 429 and 5xx are retried with exponential backoff and jitter, honouring
Retry-After; a stream that stalls is abandoned after ``stall_timeout_s``; a bad
key, an unknown voice or an exhausted quota fail at once with a plain reason.
No message built here ever contains the API key.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import numpy as np
from elevenlabs.client import AsyncElevenLabs
from elevenlabs.core.api_error import ApiError

from models.lipsync.mel import SAMPLE_RATE_HZ
from models.speech.tts_backend import SpeechError, SpeechRejected, Utterance, VoiceInfo
from models.speech.word_timing import words_from_characters

log = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = ["ElevenLabsBackend", "ElevenLabsConfig"]

_OUTPUT_FORMAT = f"pcm_{SAMPLE_RATE_HZ}"  # the API's name for raw int16 mono PCM at that rate
_RETRY_STATUS = frozenset({408, 409, 429})


@dataclass(frozen=True)
class ElevenLabsConfig:
    api_key: str
    base_url: str | None = None  # None: the SDK's production endpoint
    model_id: str = "eleven_flash_v2_5"
    optimize_streaming_latency: int | None = None  # 0..4, None: the API default
    request_timeout_s: float = 30.0
    stall_timeout_s: float = 10.0
    max_retries: int = 4
    backoff_s: float = 0.5
    max_backoff_s: float = 8.0

    def __repr__(self) -> str:  # dataclass repr would print the key
        return f"ElevenLabsConfig(base_url={self.base_url!r}, model_id={self.model_id!r})"


class _Retry(Exception):
    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = retry_after_s


@dataclass
class _Piece:
    pcm: np.ndarray  # (n,) int16
    characters: list[tuple[str, float, float]]


class ElevenLabsBackend:
    prefix = "elevenlabs"
    sample_rate_hz = SAMPLE_RATE_HZ

    def __init__(self, config: ElevenLabsConfig, client: AsyncElevenLabs | None = None) -> None:
        self.config = config
        self._client = client or AsyncElevenLabs(api_key=config.api_key, base_url=config.base_url,
                                                 timeout=config.request_timeout_s)

    def _options(self) -> Any:
        return {"max_retries": 0, "timeout_in_seconds": self.config.request_timeout_s}

    def _safe(self, text: str) -> str:
        return text.replace(self.config.api_key, "***") if self.config.api_key else text

    def _classify(self, exc: BaseException, voice: str) -> BaseException:
        """An SDK/transport error as _Retry (worth another try) or SpeechRejected/SpeechError."""
        if isinstance(exc, ApiError):
            status = exc.status_code or 0
            detail = _detail(exc.body)
            if status in _RETRY_STATUS or status >= 500:
                return _Retry(f"HTTP {status}", _retry_after(exc.headers or {}))
            if "quota" in detail.lower():
                return SpeechRejected(self._safe(f"ElevenLabs quota exceeded: {detail}"))
            if status == 401:
                return SpeechRejected("ElevenLabs rejected the API key (HTTP 401)")
            if status == 404 or "voice_not_found" in detail:
                return SpeechRejected(f"unknown ElevenLabs voice {voice!r}")
            return SpeechRejected(self._safe(f"ElevenLabs refused the request (HTTP {status}): {detail}"))
        if isinstance(exc, httpx.TransportError):
            return _Retry(f"{type(exc).__name__}")
        return exc

    async def _retrying(self, attempt: Callable[[], Awaitable[T]], what: str) -> T:
        for n in range(self.config.max_retries + 1):
            try:
                return await attempt()
            except _Retry as exc:
                if n == self.config.max_retries:
                    raise SpeechError(f"ElevenLabs {what} failed after {n + 1} attempts: "
                                      f"{exc.reason}") from None
                delay = self._delay(n, exc.retry_after_s)
                log.warning("ElevenLabs %s: %s; retry %d in %.2f s", what, exc.reason, n + 1, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def _delay(self, attempt: int, retry_after_s: float | None) -> float:
        backoff = min(self.config.max_backoff_s, self.config.backoff_s * 2**attempt)
        jittered = backoff * random.uniform(0.5, 1.0)
        if retry_after_s is not None:  # the server's word is a floor; jitter spreads the herd
            return min(retry_after_s, 60.0) + random.uniform(0, self.config.backoff_s)
        return jittered

    async def _attempt(self, voice: str, text: str, previous_text: str | None,
                       next_text: str | None) -> AsyncIterator[_Piece]:
        """One request's pieces; raises _Retry, SpeechRejected or SpeechError."""
        cfg = self.config
        stream = self._client.text_to_speech.stream_with_timestamps(
            voice, text=text, model_id=cfg.model_id, output_format=_OUTPUT_FORMAT,
            optimize_streaming_latency=cfg.optimize_streaming_latency,
            previous_text=previous_text, next_text=next_text, request_options=self._options())
        chunks = stream.__aiter__()
        leftover = b""
        received_s = 0.0
        last_end_s = 0.0
        try:
            while True:
                try:
                    chunk = await asyncio.wait_for(chunks.__anext__(), cfg.stall_timeout_s)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise _Retry(f"stream stalled for {cfg.stall_timeout_s:g} s") from None
                except (ApiError, httpx.TransportError) as exc:
                    raise self._classify(exc, voice) from None
                raw = leftover + base64.b64decode(chunk.audio_base_64 or "")
                usable = len(raw) - len(raw) % 2
                leftover = raw[usable:]
                characters = _characters(chunk.alignment, received_s, last_end_s)
                if characters:
                    last_end_s = max(last_end_s, characters[-1][2])
                pcm = np.frombuffer(raw[:usable], dtype="<i2").astype(np.int16)
                received_s += len(pcm) / SAMPLE_RATE_HZ
                yield _Piece(pcm, characters)
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()

    async def stream(self, voice: str, text: str, previous_text: str | None = None,
                     next_text: str | None = None) -> AsyncIterator[np.ndarray]:
        """Retried only until the first piece is out: played audio cannot be taken back."""
        for n in range(self.config.max_retries + 1):
            started = False
            try:
                async for piece in self._attempt(voice, text, previous_text, next_text):
                    started = True
                    if len(piece.pcm):
                        yield piece.pcm
                return
            except _Retry as exc:
                if started or n == self.config.max_retries:
                    raise SpeechError(f"ElevenLabs stream failed: {exc.reason}") from None
                await asyncio.sleep(self._delay(n, exc.retry_after_s))

    async def synthesize(self, voice: str, text: str, previous_text: str | None = None,
                         next_text: str | None = None) -> Utterance:
        async def once() -> Utterance:
            pcm: list[np.ndarray] = []
            chars: list[tuple[str, float, float]] = []
            async for piece in self._attempt(voice, text, previous_text, next_text):
                pcm.append(piece.pcm)
                chars.extend(piece.characters)
            samples = np.concatenate(pcm) if pcm else np.zeros(0, dtype=np.int16)
            words = words_from_characters([c[0] for c in chars], [c[1] for c in chars], [c[2] for c in chars])
            return Utterance(samples, SAMPLE_RATE_HZ, words)

        return await self._retrying(once, "speech")

    async def voices(self) -> list[VoiceInfo]:
        async def once() -> list[VoiceInfo]:
            try:
                found = await self._client.voices.get_all(request_options=self._options())
            except (ApiError, httpx.TransportError) as exc:
                raise self._classify(exc, "") from None
            return [VoiceInfo(f"{self.prefix}:{v.voice_id}", v.name or v.voice_id, self.prefix,
                              (v.labels or {}).get("language") if isinstance(v.labels, dict) else None)
                    for v in found.voices]

        return await self._retrying(once, "voice list")

    async def clone(self, name: str, files: list[tuple[str, bytes, str]],
                    description: str | None = None) -> str:
        """Instant voice clone from (filename, bytes, content type) samples; returns the voice id."""
        async def once() -> str:
            try:
                made = await self._client.voices.ivc.create(
                    name=name, files=list(files), description=description, request_options=self._options())
            except (ApiError, httpx.TransportError) as exc:
                raise self._classify(exc, "") from None
            return f"{self.prefix}:{made.voice_id}"

        return await self._retrying(once, "voice clone")


def _characters(alignment: Any, received_s: float, last_end_s: float) -> list[tuple[str, float, float]]:
    """(character, start_s, end_s) of one streamed chunk, on the request's timeline.

    The API's times are cumulative over the request; should a server restart them
    in each chunk, they are shifted by the audio received before the chunk.
    """
    if alignment is None or not alignment.characters:
        return []
    starts, ends = alignment.character_start_times_seconds, alignment.character_end_times_seconds
    restarted = received_s > 0 and starts[0] < last_end_s - 1e-3
    offset = received_s if restarted else 0.0
    return [(c, s + offset, e + offset) for c, s, e in zip(alignment.characters, starts, ends, strict=False)]


def _detail(body: Any) -> str:
    """The reason in an ElevenLabs error body: {"detail": {"status", "message"}} or a string."""
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, dict):
        return " ".join(str(detail[k]) for k in ("status", "message") if detail.get(k))
    return str(detail)[:300] if detail is not None else ""


def _retry_after(headers: dict[str, str]) -> float | None:
    lowered = {k.lower(): v for k, v in headers.items()}
    value = lowered.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date; plain backoff is close enough
