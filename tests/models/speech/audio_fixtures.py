"""Audio files made in the test from generated PCM, with PyAV's encoders."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

# container format, codec, sample rate, file suffix
FORMATS = {"wav": ("wav", "pcm_s16le", 16_000, ".wav"), "mp3": ("mp3", "libmp3lame", 44_100, ".mp3"),
           "opus": ("ogg", "libopus", 48_000, ".ogg"), "m4a": ("ipod", "aac", 48_000, ".m4a")}


def tone(duration_s: float, rate_hz: int, freq_hz: float = 220.0) -> np.ndarray:
    """A sine that rises in loudness, so position errors show in the samples."""
    t = np.arange(round(duration_s * rate_hz)) / rate_hz
    return (0.2 + 0.6 * t / max(duration_s, 1e-9)) * np.sin(2 * np.pi * freq_hz * t)


def write_audio(path: Path, kind: str, duration_s: float, channels: int = 1) -> Path:
    """`duration_s` of `tone` in the format `kind` (a FORMATS key)."""
    fmt, codec, rate, suffix = FORMATS[kind]
    path = path.with_suffix(suffix)
    mono = tone(duration_s, rate)
    pcm = (np.tile(mono, (channels, 1)) * 32767).astype(np.int16)
    layout = "mono" if channels == 1 else "stereo"
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        frame_size = stream.codec_context.frame_size or 1024
        packed = pcm.T.reshape(1, -1) if channels > 1 else pcm
        resampler = av.AudioResampler(format=stream.codec_context.format.name, layout=layout, rate=rate)
        for at in range(0, pcm.shape[1], frame_size):
            block = np.ascontiguousarray(packed[:, at * channels:(at + frame_size) * channels]) if channels > 1 \
                else np.ascontiguousarray(pcm[:, at:at + frame_size])
            frame = av.AudioFrame.from_ndarray(block, format="s16", layout=layout)
            frame.sample_rate = rate
            frame.pts = at
            for converted in resampler.resample(frame):
                for packet in stream.encode(converted):
                    out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path
