"""Remux + probe checks for models.media.assemble, on real encoder output."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from models.media.assemble import MediaInfo, probe, remux_to_mp4
from models.media.mp4_boxes import iter_boxes
from tests.models.media.test_encode import CHUNKS, FPS, SPF, SR, H, W, encode_job, sine

FRAME_S = 1 / FPS


@pytest.fixture(scope="module")
def final(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, MediaInfo]:
    segs = encode_job()
    out = tmp_path_factory.mktemp("assemble") / "job.mp4"
    return out, remux_to_mp4(segs[0].init, iter(s.media for s in segs), out)


def test_durations_as_player_sees_them(final) -> None:
    out, info = final
    total = sum(CHUNKS) / FPS
    assert info == probe(out)
    assert info.video_frames == sum(CHUNKS)
    assert (info.width, info.height, info.fps, info.audio_sample_rate_hz) == (W, H, FPS, SR)
    assert info.video_duration_s == pytest.approx(total, abs=FRAME_S)
    assert info.audio_duration_s == pytest.approx(total, abs=FRAME_S)
    assert abs(info.video_duration_s - info.audio_duration_s) <= FRAME_S


def test_faststart_and_no_temp_left(final) -> None:
    out, _ = final
    kinds = [b[0] for b in iter_boxes(out.read_bytes())]
    assert kinds.index(b"moov") < kinds.index(b"mdat")
    assert [p.name for p in out.parent.iterdir()] == [out.name]


def _decoded_audio(path: Path) -> np.ndarray:
    """Mono float samples from presentation time 0, priming trimmed per the edit list."""
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        parts = []
        for frame in c.decode(stream):
            pcm = frame.to_ndarray().reshape(-1)
            start = round(float(frame.pts * frame.time_base) * SR)
            if start < 0:  # trim priming if the decoder did not already
                pcm = pcm[-start:]
            parts.append(pcm)
    return np.concatenate(parts)


def test_audio_continuous_across_segment_joins(final) -> None:
    out, _ = final
    total = sum(CHUNKS) * SPF
    got = _decoded_audio(out)[:total]
    assert len(got) == total
    ref = sine(0, total).astype(np.float64) / 32768.0
    # Aligned (no lag) and faithful overall: AAC at 64 kb/s keeps a lone sweep near-exact.
    lags = range(-1200, 1201, 8)
    best = max(lags, key=lambda d: float(np.dot(np.roll(got, d)[1300:-1300], ref[1300:-1300])))
    assert abs(best) <= 8
    corr = np.corrcoef(got[1024:], ref[1024:])[0, 1]
    assert corr > 0.98
    # No dropout/click at the joins: every 10 ms window around a join keeps the tone's energy
    # and tracks the reference.
    joins = np.cumsum(CHUNKS)[:-1] * SPF
    win = SR // 100
    for j in joins:
        for start in range(j - 4 * win, j + 4 * win, win):
            g, r = got[start : start + win], ref[start : start + win]
            assert np.sqrt(np.mean(g**2)) > 0.8 * np.sqrt(np.mean(r**2)), (j, start)
            assert np.max(np.abs(g - r)) < 0.05, (j, start)


def test_remux_is_atomic_on_failure(tmp_path: Path) -> None:
    out = tmp_path / "bad.mp4"
    with pytest.raises(av.error.FFmpegError):
        remux_to_mp4(b"not an mp4", [b"nothing"], out)
    assert list(tmp_path.iterdir()) == []


def test_a_minute_stays_in_sync_with_no_gap_at_any_join(tmp_path: Path) -> None:
    """60 s (61 segments) at 64x48: audio is the input, aligned at the start and at the end,
    with no dropout at any join; video and audio end within one frame of each other."""
    chunks = (10, *([25] * 59), 15)
    segs = encode_job(chunks)
    info = remux_to_mp4(segs[0].init, [s.media for s in segs], tmp_path / "minute.mp4")
    total_frames = sum(chunks)
    assert total_frames == 60 * FPS and info.video_frames == total_frames
    assert abs(info.video_duration_s - 60.0) <= FRAME_S and abs(info.audio_duration_s - 60.0) <= FRAME_S
    assert abs(info.video_duration_s - info.audio_duration_s) <= FRAME_S
    with av.open(str(tmp_path / "minute.mp4")) as c:
        pts = [f.pts * f.time_base for f in c.decode(video=0)]
    assert [round(float(p) * FPS) for p in pts] == list(range(total_frames))  # no frame shifted or lost
    total = total_frames * SPF
    got = _decoded_audio(tmp_path / "minute.mp4")[:total]
    assert len(got) == total
    ref = sine(0, total).astype(np.float64) / 32768.0
    for lo in (2000, total - 5 * SR):  # the offset at the start equals the offset a minute later
        g, r = got[lo:lo + 2 * SR], ref[lo:lo + 2 * SR]
        best = max(range(-64, 65, 2), key=lambda d: float(np.dot(np.roll(g, d)[100:-100], r[100:-100])))
        assert abs(best) <= 4, (lo, best)
    win = SR // 100
    for j in np.cumsum(chunks)[:-1] * SPF:
        g, r = got[j - 2 * win:j + 2 * win], ref[j - 2 * win:j + 2 * win]
        assert np.sqrt(np.mean(g ** 2)) > 0.8 * np.sqrt(np.mean(r ** 2)), j
        assert np.max(np.abs(g - r)) < 0.05, j
