"""The speech commands: chunk prints JSON lines, tts writes a WAV offline and reports its speed."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import pytest

from cli.main import main


def test_chunk_prints_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chunk", "--text", "Dr. Who paid $4.99. 你好。Done!"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines == [{"seq": 0, "text": "Dr. Who paid $4.99."}, {"seq": 1, "text": "你好。"},
                     {"seq": 2, "text": "Done!"}]


def test_chunk_refuses_a_script_over_the_limit(capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVATAR_MAX_SCRIPT_CHARS", "10")
    assert main(["chunk", "--text", "This is more than ten characters."]) == 2
    assert "the limit is 10" in capsys.readouterr().err


@pytest.mark.parametrize("text", ["", "   ", "\n\t ", "... !"])
def test_chunk_refuses_a_script_without_words(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chunk", "--text", text]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == ["avatar-stream: error: --text has no words to split into sentences"]


def test_tts_writes_a_wav_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ELEVENLABS_API_KEY", raising=False)
    out = tmp_path / "hello.wav"
    assert main(["tts", "--text", "Hello there. This runs offline.", "--out", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    with wave.open(str(out)) as wav:
        assert wav.getframerate() == 16000 and wav.getnchannels() == 1
        assert wav.getnframes() / 16000 == pytest.approx(report["audio_s"], abs=1e-3)
    assert report["sentences"] == 2 and 0 < report["first_audio_s"] <= report["synth_s"]
    assert report["rtf"] == pytest.approx(report["synth_s"] / report["audio_s"], rel=0.01)
    assert main(["tts", "--text", "Hi.", "--out", str(out), "--voice", "elevenlabs:x"]) == 2
    assert "not configured" in capsys.readouterr().err
