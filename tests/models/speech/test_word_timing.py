"""Word timings from character alignment, and estimated from audio for voices without it."""

from __future__ import annotations

import numpy as np
import pytest

from models.speech.audio_probe import NotAudioError, probe_audio
from models.speech.word_timing import Word, estimate_words, words_from_characters


def test_characters_group_into_words() -> None:
    chars = list("Hi  there!")
    starts = [0.1 * i for i in range(len(chars))]
    words = words_from_characters(chars, starts, [s + 0.1 for s in starts])
    assert words == [Word("Hi", 0.0, pytest.approx(0.2)), Word("there!", pytest.approx(0.4), pytest.approx(1.0))]
    assert words_from_characters([], [], []) == []
    with pytest.raises(ValueError):
        words_from_characters(["a"], [0.0, 1.0], [1.0])


def test_estimate_spreads_words_over_the_voiced_span() -> None:
    rate = 16000
    audio = np.zeros(rate * 2, dtype=np.int16)
    audio[rate // 2:rate * 3 // 2] = 5000  # voiced from 0.5 s to 1.5 s
    words = estimate_words("a bbb", audio, rate)
    assert [w.text for w in words] == ["a", "bbb"]
    assert words[0].start_s == pytest.approx(0.5) and words[-1].end_s == pytest.approx(1.5)
    assert words[0].end_s == pytest.approx(0.5 + 2 / 6)  # weights: len + 1
    assert estimate_words("", audio, rate) == [] and estimate_words("x", audio[:0], rate) == []


def test_probe_audio_decides_by_content() -> None:
    import io
    import wave

    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(2), w.setsampwidth(2), w.setframerate(44100)
        w.writeframes(np.zeros(44100 * 2, dtype="<i2").tobytes())
    info = probe_audio(out.getvalue())
    assert (info.codec, info.sample_rate_hz, info.channels) == ("pcm_s16le", 44100, 2)
    assert info.duration_s == pytest.approx(1.0)
    with pytest.raises(NotAudioError, match="longer than 0.5 s"):
        probe_audio(out.getvalue(), max_duration_s=0.5)
    for junk in (b"", b"plain text that is not sound " * 40, b"\x89PNG\r\n\x1a\n" + b"\0" * 64):
        with pytest.raises(NotAudioError):
            probe_audio(junk)
