"""A caller's audio file decoded to the pipeline's 16 kHz mono int16: whole or in pieces that
join up, for each container the API takes, and the checks that refuse a file."""

from __future__ import annotations

import wave
from pathlib import Path

import av
import numpy as np
import pytest

from models.speech.audio_file import (
    AudioTooLongError,
    EmptyAudioError,
    NotAudioFileError,
    decode_piece,
    probe_audio_file,
)
from tests.models.speech.audio_fixtures import FORMATS, tone, write_audio

DURATION_S = 7.3
PIECE = 2 * 16_000


def _pieces(path: Path, count: int) -> np.ndarray:
    parts = [decode_piece(path, at, at + PIECE) for at in range(0, count * PIECE, PIECE)]
    return np.concatenate([*parts, decode_piece(path, count * PIECE, None)])


@pytest.mark.parametrize("kind", sorted(FORMATS))
def test_each_format_decodes_whole_and_in_pieces(tmp_path: Path, kind: str) -> None:
    path = write_audio(tmp_path / "in", kind, DURATION_S, channels=2 if kind == "m4a" else 1)
    info = probe_audio_file(path, 600)
    assert info.duration_s == pytest.approx(DURATION_S, abs=0.05)
    assert info.sample_rate_hz == FORMATS[kind][2]
    whole = decode_piece(path, 0, None)
    assert whole.dtype == np.int16 and whole.ndim == 1
    assert len(whole) / 16_000 == pytest.approx(DURATION_S, abs=0.05)
    reference = tone(DURATION_S, 16_000) * 32767
    n = min(len(whole), len(reference))
    assert np.corrcoef(whole[:n], reference[:n])[0, 1] > 0.99  # the same sound at the same place
    pieces = _pieces(path, 3)
    assert abs(len(pieces) - len(whole)) <= 1
    n = min(len(whole), len(pieces))
    tolerance = 0 if kind in ("wav", "opus") else 0.05 * 32767  # a lossy decoder's restart after a seek
    assert np.abs(pieces[:n].astype(np.int32) - whole[:n]).max() <= tolerance


def test_a_piece_past_the_end_is_empty_and_the_last_is_short(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "in", "wav", 1.5)
    assert len(decode_piece(path, 0, PIECE)) == 24_000
    assert len(decode_piece(path, 3 * PIECE, None)) == 0


def test_too_long_is_refused_before_it_is_decoded_whole(tmp_path: Path) -> None:
    path = write_audio(tmp_path / "in", "mp3", 5.0)
    with pytest.raises(AudioTooLongError, match="longer than 4 s"):
        probe_audio_file(path, 4.0)
    assert probe_audio_file(path, 5.5).duration_s == pytest.approx(5.0, abs=0.05)


def test_not_audio_no_audio_stream_and_empty(tmp_path: Path) -> None:
    junk = tmp_path / "junk.wav"
    junk.write_bytes(b"RIFF but not really a wave file" * 40)
    with pytest.raises(NotAudioFileError) as raised:
        probe_audio_file(junk, 600)
    assert str(tmp_path) not in str(raised.value)
    video = tmp_path / "video.mp4"
    with av.open(str(video), "w") as out:
        stream = out.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), i * 40, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    with pytest.raises(NotAudioFileError, match="no audio stream"):
        probe_audio_file(video, 600)
    empty = tmp_path / "empty.wav"
    with wave.open(str(empty), "wb") as out:  # a header and no samples
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
    with pytest.raises(EmptyAudioError, match="0 s"):
        probe_audio_file(empty, 600)
