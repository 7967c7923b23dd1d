"""Is an upload speech audio? Decided by decoding it with FFmpeg (PyAV), not by its name."""

from __future__ import annotations

import io
from dataclasses import dataclass

import av

__all__ = ["AudioInfo", "NotAudioError", "probe_audio"]


class NotAudioError(ValueError):
    """The bytes are not decodable audio; the message says why, for the user."""


@dataclass(frozen=True)
class AudioInfo:
    container: str
    codec: str
    sample_rate_hz: int
    channels: int
    duration_s: float


def probe_audio(data: bytes, max_duration_s: float = 600.0) -> AudioInfo:
    """Decode every audio frame (samples are short) and measure what was really there.

    Raises NotAudioError for anything without a decodable audio stream, with no
    sound in it, or longer than ``max_duration_s``.
    """
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise NotAudioError("no audio stream in the file")
            stream = container.streams.audio[0]
            samples = 0
            rate = stream.codec_context.sample_rate or 0
            for frame in container.decode(stream):
                samples += frame.samples
                rate = frame.sample_rate or rate
                if rate and samples / rate > max_duration_s:
                    raise NotAudioError(f"audio is longer than {max_duration_s:g} s")
            if samples == 0 or rate <= 0:
                raise NotAudioError("the audio stream has no samples")
            return AudioInfo(container.format.name, stream.codec_context.name, rate,
                             stream.codec_context.channels, samples / rate)
    except av.FFmpegError as exc:
        raise NotAudioError(f"not decodable audio ({type(exc).__name__})") from None
