"""The one interface every text-to-speech backend implements, and the voice registry.

A voice is named ``backend:name`` (``piper:joe``, ``elevenlabs:21m00Tcm4TlvDq8ikWAM``);
the registry maps the prefix to a backend, so a request picks its backend by the
voice it names and no caller branches on vendors.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from models.speech.word_timing import Word

__all__ = [
    "SpeechBackend", "SpeechError", "SpeechRejected", "Utterance", "VoiceInfo", "VoiceRegistry",
    "split_voice_id",
]


class SpeechError(RuntimeError):
    """Synthesis failed; the message is safe to show (never carries credentials)."""


class SpeechRejected(SpeechError):
    """The backend refused the request for good (bad key, unknown voice, quota): no retry helps."""


@dataclass(frozen=True)
class VoiceInfo:
    voice_id: str
    name: str
    backend: str
    language: str | None = None


@dataclass(frozen=True)
class Utterance:
    """A whole sentence: int16 mono ``samples`` and its words (seconds from its start)."""

    samples: np.ndarray
    sample_rate_hz: int
    words: list[Word] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate_hz


class SpeechBackend(Protocol):
    """``voice`` is the part of the voice id after the prefix."""

    prefix: str
    sample_rate_hz: int

    def stream(self, voice: str, text: str, previous_text: str | None = None,
               next_text: str | None = None) -> AsyncIterator[np.ndarray]:
        """int16 pieces as soon as they are synthesized (for playback, not lip sync)."""
        ...

    async def synthesize(self, voice: str, text: str, previous_text: str | None = None,
                         next_text: str | None = None) -> Utterance: ...

    async def voices(self) -> list[VoiceInfo]: ...


def split_voice_id(voice_id: str) -> tuple[str, str]:
    prefix, sep, name = voice_id.partition(":")
    if not sep or not prefix or not name:
        raise LookupError(f"voice_id {voice_id!r} is not of the form backend:name")
    return prefix, name


class VoiceRegistry:
    """Backends by prefix; resolves a voice id to (backend, voice name)."""

    def __init__(self, backends: Mapping[str, SpeechBackend]) -> None:
        self._backends = dict(backends)

    def resolve(self, voice_id: str) -> tuple[SpeechBackend, str]:
        prefix, name = split_voice_id(voice_id)
        backend = self._backends.get(prefix)
        if backend is None:
            known = ", ".join(sorted(self._backends))
            raise LookupError(f"unknown voice_id {voice_id!r}: backend {prefix!r} is not configured "
                              f"(configured: {known})")
        return backend, name

    def backend(self, prefix: str) -> SpeechBackend | None:
        return self._backends.get(prefix)

    @property
    def backends(self) -> list[SpeechBackend]:
        return list(self._backends.values())
