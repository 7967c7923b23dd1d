"""The voice registry both services build from their settings: local Piper, plus
ElevenLabs when a key is configured."""

from __future__ import annotations

from core.settings import ElevenLabsSettings
from models.speech.tts_backend import SpeechBackend, VoiceRegistry
from models.speech.tts_elevenlabs import ElevenLabsBackend, ElevenLabsConfig
from models.speech.tts_piper import PiperBackend, PiperSpeaker


def elevenlabs_backend(settings: ElevenLabsSettings) -> ElevenLabsBackend | None:
    if not settings.api_key:
        return None
    return ElevenLabsBackend(ElevenLabsConfig(
        api_key=settings.api_key, base_url=settings.base_url, model_id=settings.model_id,
        optimize_streaming_latency=settings.optimize_streaming_latency,
        request_timeout_s=settings.request_timeout_s, stall_timeout_s=settings.stall_timeout_s,
        max_retries=settings.max_retries))


def build_registry(piper: PiperBackend, elevenlabs: ElevenLabsSettings) -> VoiceRegistry:
    backends: dict[str, SpeechBackend] = {piper.prefix: piper}
    remote = elevenlabs_backend(elevenlabs)
    if remote is not None:
        backends[remote.prefix] = remote
    return VoiceRegistry(backends)


LOCAL_VOICES = frozenset({PiperSpeaker.voice_id})


def is_known_voice(voice_id: str, elevenlabs: ElevenLabsSettings) -> bool:
    """Cheap check at the door (no network): local voices, or any ElevenLabs id when a key
    is configured (an id ElevenLabs does not know fails the job with that reason)."""
    prefix, _, name = voice_id.partition(":")
    return voice_id in LOCAL_VOICES or (prefix == "elevenlabs" and bool(name) and bool(elevenlabs.api_key))
