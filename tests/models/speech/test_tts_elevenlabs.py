"""The ElevenLabs backend, through the real SDK, against the local fake API."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest

from models.speech.tts_backend import SpeechError, SpeechRejected
from models.speech.tts_elevenlabs import ElevenLabsBackend, ElevenLabsConfig
from tests.fakes.elevenlabs_server import CHAR_S, FakeElevenLabs, speak

TEXT = "Hello brave new world."


def backend(server: FakeElevenLabs, key: str | None = None, **overrides: float) -> ElevenLabsBackend:
    config = ElevenLabsConfig(api_key=key or server.api_key, base_url=server.url, model_id="eleven_test_v1",
                              optimize_streaming_latency=2, stall_timeout_s=0.5, backoff_s=0.05,
                              max_backoff_s=0.2, **overrides)  # type: ignore[arg-type]
    return ElevenLabsBackend(config)


async def test_synthesize_returns_the_streamed_audio_and_word_times(elevenlabs: FakeElevenLabs) -> None:
    utterance = await backend(elevenlabs).synthesize("fake-rachel", TEXT, previous_text="Before.",
                                                     next_text="After.")
    assert utterance.sample_rate_hz == 16000
    assert utterance.samples.tobytes() == speak(TEXT)
    assert [w.text for w in utterance.words] == TEXT.split()
    assert utterance.words[0].start_s == 0.0
    assert utterance.words[1].start_s == pytest.approx(6 * CHAR_S)
    assert utterance.words[-1].end_s == pytest.approx(len(TEXT) * CHAR_S)
    sent = elevenlabs.requests[-1]
    assert sent["path"] == "/v1/text-to-speech/fake-rachel/stream/with-timestamps"
    assert sent["query"] == {"output_format": "pcm_16000", "optimize_streaming_latency": "2"}
    assert sent["json"] == {"text": TEXT, "model_id": "eleven_test_v1", "previous_text": "Before.",
                            "next_text": "After."}


async def test_stream_yields_pieces_as_they_arrive(elevenlabs: FakeElevenLabs) -> None:
    pieces = [p async for p in backend(elevenlabs).stream("fake-adam", TEXT)]
    assert len(pieces) >= 3 and all(p.dtype == np.int16 for p in pieces)
    assert np.concatenate(pieces).tobytes() == speak(TEXT)


async def test_429_honours_retry_after(elevenlabs: FakeElevenLabs) -> None:
    elevenlabs.faults.extend(["429"])
    started = time.monotonic()
    utterance = await backend(elevenlabs).synthesize("fake-rachel", "Hi.")
    assert time.monotonic() - started >= 1.0
    assert utterance.samples.tobytes() == speak("Hi.")


async def test_5xx_retried_with_backoff_then_gives_up(elevenlabs: FakeElevenLabs) -> None:
    elevenlabs.faults.extend(["500", "500"])
    assert len((await backend(elevenlabs).synthesize("fake-rachel", "Ok.")).samples) > 0
    elevenlabs.faults.extend(["500"] * 3)
    with pytest.raises(SpeechError, match="after 3 attempts: HTTP 500"):
        await backend(elevenlabs, max_retries=2).synthesize("fake-rachel", "Ok.")


async def test_stalled_stream_times_out_and_is_retried(elevenlabs: FakeElevenLabs) -> None:
    elevenlabs.faults.append("stall")
    started = time.monotonic()
    utterance = await backend(elevenlabs).synthesize("fake-rachel", TEXT)
    assert utterance.samples.tobytes() == speak(TEXT)
    assert 0.5 <= time.monotonic() - started < 5
    elevenlabs.faults.append("stall")
    with pytest.raises(SpeechError, match="stalled"):
        await backend(elevenlabs, max_retries=0).synthesize("fake-rachel", TEXT)


@pytest.mark.parametrize(("fault", "voice", "reason"), [
    ("401", "fake-rachel", "rejected the API key"),
    ("quota", "fake-rachel", "quota exceeded"),
    (None, "no-such-voice", "unknown ElevenLabs voice 'no-such-voice'"),
])
async def test_permanent_errors_fail_at_once_without_the_key(
        elevenlabs: FakeElevenLabs, caplog: pytest.LogCaptureFixture,
        fault: str | None, voice: str, reason: str) -> None:
    caplog.set_level(logging.DEBUG)
    if fault:
        elevenlabs.faults.append(fault)
    calls = len(elevenlabs.requests)
    with pytest.raises(SpeechRejected, match=reason) as info:
        await backend(elevenlabs).synthesize(voice, TEXT)
    assert len(elevenlabs.requests) == calls + 1  # no retry
    assert elevenlabs.api_key not in str(info.value) and elevenlabs.api_key not in caplog.text


async def test_wrong_key_is_401_and_never_echoed(elevenlabs: FakeElevenLabs,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "sk-wrong-9876543210"
    with pytest.raises(SpeechRejected, match="API key") as info:
        await backend(elevenlabs, key=wrong).voices()
    assert wrong not in str(info.value) and wrong not in caplog.text
    assert wrong not in repr(backend(elevenlabs, key=wrong).config)


async def test_voices_and_clone(elevenlabs: FakeElevenLabs) -> None:
    tts = backend(elevenlabs)
    voices = await tts.voices()
    assert {v.voice_id for v in voices} >= {"elevenlabs:fake-rachel", "elevenlabs:fake-adam"}
    assert all(v.backend == "elevenlabs" for v in voices)
    voice_id = await tts.clone("Me", [("a.wav", b"RIFF....", "audio/wav"), ("b.mp3", b"ID3...", "audio/mpeg")])
    assert voice_id.startswith("elevenlabs:clone-")
    assert elevenlabs.requests[-1] == {"path": "/v1/voices/add", "name": "Me",
                                       "files": [("a.wav", 8), ("b.mp3", 6)]}
    assert voice_id in {v.voice_id for v in await tts.voices()}
