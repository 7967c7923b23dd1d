"""A caller's own audio file (WAV, MP3, OGG/Opus, M4A/AAC) as the pipeline's 16 kHz mono int16.

Files can be long, so nothing here decodes a whole file: `probe_audio_file` reads the
container's duration (counting samples only when the container does not say, and then
stopping at the limit), and `decode_piece` seeks to one piece and decodes just that. Piece
boundaries are sample positions on the 16 kHz timeline, so consecutive pieces join up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

__all__ = ["AudioFileInfo", "AudioTooLongError", "EmptyAudioError", "NotAudioFileError",
           "decode_piece", "probe_audio_file"]

OUT_RATE_HZ = 16_000
_SEEK_MARGIN_S = 0.5  # decode a little before a piece so the decoder and resampler settle


class NotAudioFileError(ValueError):
    """Not decodable audio, or no audio stream in it (an HTTP 415)."""


class AudioTooLongError(ValueError):
    """Longer than the limit (an HTTP 422)."""


class EmptyAudioError(ValueError):
    """No samples in it (an HTTP 422)."""


@dataclass(frozen=True)
class AudioFileInfo:
    container: str
    codec: str
    sample_rate_hz: int
    channels: int
    duration_s: float


def _stream_duration_s(container: av.container.InputContainer, stream: av.audio.stream.AudioStream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def probe_audio_file(path: Path, max_duration_s: float) -> AudioFileInfo:
    """What the file holds; NotAudioFileError, EmptyAudioError or AudioTooLongError when it
    will not do. The first packets are decoded, so a file that only looks like audio fails."""
    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.audio:
                raise NotAudioFileError("no audio stream in the file")
            stream = container.streams.audio[0]
            declared = _stream_duration_s(container, stream)
            samples, rate = 0, stream.codec_context.sample_rate or 0
            for frame in container.decode(stream):
                samples += frame.samples
                rate = frame.sample_rate or rate
                if rate and samples / rate > max_duration_s:
                    raise AudioTooLongError(f"the audio is longer than {max_duration_s:g} s")
                if declared is not None and samples >= rate:  # it decodes; trust the container
                    break
            if samples == 0 or rate <= 0:
                raise EmptyAudioError("the audio has no samples (0 s long)")
            duration = declared if declared is not None and samples >= rate else samples / rate
            if duration > max_duration_s:
                raise AudioTooLongError(f"the audio is {duration:.1f} s, longer than {max_duration_s:g} s")
            if duration <= 0:
                raise EmptyAudioError("the audio has no samples (0 s long)")
            return AudioFileInfo(container.format.name, stream.codec_context.name, rate,
                                 stream.codec_context.channels, duration)
    except (NotAudioFileError, AudioTooLongError, EmptyAudioError):
        raise
    except (av.FFmpegError, ValueError, TypeError, OverflowError, ZeroDivisionError) as exc:
        # FFmpeg's errors name the file: only the kind is told
        raise NotAudioFileError(f"not decodable audio ({type(exc).__name__})") from None


def _origin_s(stream: av.audio.stream.AudioStream) -> float:
    """The stream's first timestamp: piece positions count from there."""
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def decode_piece(path: Path, start_sample: int, end_sample: int | None) -> np.ndarray:
    """Samples [start_sample, end_sample) of the file at 16 kHz mono int16 (end None: to the
    end of the file). A piece past the end is empty; a short file gives what there is.
    NotAudioFileError (naming no path) when the file cannot be decoded."""
    try:
        return _decode_piece(path, start_sample, end_sample)
    except av.FFmpegError as exc:
        raise NotAudioFileError(f"the audio stopped decoding ({type(exc).__name__})") from None
    except IndexError:
        raise NotAudioFileError("no audio stream in the file") from None


def _decode_piece(path: Path, start_sample: int, end_sample: int | None, seek: bool = True) -> np.ndarray:
    start_s = start_sample / OUT_RATE_HZ
    with av.open(str(path), mode="r") as container:
        stream = container.streams.audio[0]
        origin = _origin_s(stream)
        seek_s = start_s - _SEEK_MARGIN_S if seek and stream.time_base is not None else 0.0
        if seek_s > 0:
            container.seek(math.floor((origin + seek_s) / stream.time_base), backward=True, stream=stream)
        resampler = av.AudioResampler(format="s16", layout="mono", rate=OUT_RATE_HZ)
        parts: list[np.ndarray] = []
        first: int | None = None  # where the first decoded frame sits on the 16 kHz timeline
        have = 0
        for frame in container.decode(stream):
            if first is None:
                if seek_s > 0 and frame.time is None:  # no timestamps to find the piece by
                    return _decode_piece(path, start_sample, end_sample, seek=False)
                first = 0 if seek_s <= 0 else round((frame.time - origin) * OUT_RATE_HZ)
            for out in resampler.resample(frame):
                parts.append(out.to_ndarray().reshape(-1))
                have += out.samples
            if end_sample is not None and first + have >= end_sample:
                break
        else:
            for out in resampler.resample(None):
                parts.append(out.to_ndarray().reshape(-1))
        if first is None:
            return np.zeros(0, dtype=np.int16)
    samples = np.concatenate(parts).astype(np.int16) if parts else np.zeros(0, dtype=np.int16)
    if start_sample < first:  # the seek landed after the start: keep the timeline, pad
        samples = np.concatenate([np.zeros(first - start_sample, dtype=np.int16), samples])
        first = start_sample
    lo = start_sample - first
    return samples[lo:] if end_sample is None else samples[lo:lo + max(0, end_sample - start_sample)]
