"""HTTP bodies of the speech endpoints: voices, voice cloning, text to speech."""

from __future__ import annotations

from pydantic import Field

from schemas.base import DEFAULT_TENANT, Message
from schemas.requests import DEFAULT_VOICE_ID, SpokenText, VoiceId

MAX_TTS_CHARS = 5_000
MAX_VOICE_NAME_CHARS = 100


class Voice(Message):
    voice_id: str = Field(description="what POST /api/v1/generate and /api/v1/tts take, e.g. piper:joe")
    name: str
    backend: str = Field(description="piper (local) or elevenlabs")
    language: str | None = None


class VoiceList(Message):
    voices: list[Voice]
    warnings: list[str] = Field(default_factory=list, description="backends whose voices could not be listed")


class CloneResponse(Message):
    voice_id: str
    name: str
    samples: int = Field(description="audio files used")
    duration_s: float = Field(description="total audio in the samples")
    tenant: str = Field(DEFAULT_TENANT, description="the owner: only its key (and admin keys) see the voice")


class TtsRequest(Message):
    text: SpokenText = Field(max_length=MAX_TTS_CHARS)
    voice_id: VoiceId = DEFAULT_VOICE_ID
