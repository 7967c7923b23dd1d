"""Uploaded media in, RGB frames at the output rate out; the type comes from decoding.

The container is probed by content (FFmpeg via PyAV), never by file name, and
every limit (pixels, duration) is checked from the headers before any frame is
decoded, so a decompression bomb costs nothing.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from models.media.frame_size import output_size

if TYPE_CHECKING:
    import av

logger = logging.getLogger(__name__)

VIDEO_FORMATS = ("mov", "mp4", "matroska", "webm")  # FFmpeg demuxer names (mp4, mov, mkv, webm)
PHOTO_CODECS = ("mjpeg", "png", "webp")  # jpg, png, webp


class UnusableMediaError(ValueError):
    """The upload cannot become an avatar; the message says why, for the user."""


class MediaTooLargeError(UnusableMediaError):
    """The picture has more pixels than allowed (found from the headers, before decoding)."""


@dataclass(frozen=True)
class MediaInfo:
    kind: Literal["photo", "video"]
    container: str  # FFmpeg's demuxer name
    codec: str
    width: int
    height: int
    duration_s: float | None  # None for photos


def _image_header_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, JPEG or WebP header, or None for anything else.

    FFmpeg learns an image's size by decoding it whole, so the pixel limit is
    checked on the header first: a 20000 x 20000 PNG is refused unread.
    """
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        w, h = struct.unpack(">II", head[16:24])
        return int(w), int(h)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        kind = head[12:16]
        if kind == b"VP8X":
            return 1 + int.from_bytes(head[24:27], "little"), 1 + int.from_bytes(head[27:30], "little")
        if kind == b"VP8 ":
            w, h = struct.unpack("<HH", head[26:30])
            return w & 0x3FFF, h & 0x3FFF
        if kind == b"VP8L":
            bits = int.from_bytes(head[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        return None
    if head[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(head):
            if head[i] != 0xFF:
                i += 1
                continue
            marker = head[i + 1]
            if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                h, w = struct.unpack(">HH", head[i + 5:i + 9])
                return int(w), int(h)
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
                i += 1 if marker == 0xFF else 2
                continue
            i += 2 + struct.unpack(">H", head[i + 2:i + 4])[0]
    return None


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise MediaTooLargeError(f"{width}x{height} is {width * height} pixels, over the limit of {max_pixels}")


def _open(path: Path, max_pixels: int):  # type: ignore[no-untyped-def]
    import av

    with open(path, "rb") as f:
        size = _image_header_size(f.read(256 * 1024))
    if size is not None:
        _check_pixels(*size, max_pixels)
    try:
        return av.open(str(path), mode="r")
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise UnusableMediaError(f"not a readable video or photo (or truncated): {exc}") from exc


def probe_media(path: Path, max_pixels: int) -> MediaInfo:
    """What the file is, from its headers only; raises UnusableMediaError with the reason."""
    with _open(path, max_pixels) as container:
        return _info(container, max_pixels)


def _info(container, max_pixels: int) -> MediaInfo:  # type: ignore[no-untyped-def]
    if not container.streams.video:
        raise UnusableMediaError("the file has no video or image stream")
    stream = container.streams.video[0]
    fmt = container.format.name
    codec = stream.codec_context.name
    width, height = int(stream.codec_context.width or 0), int(stream.codec_context.height or 0)
    photo = fmt == "image2" or fmt.endswith("_pipe")
    if photo and codec not in PHOTO_CODECS:
        raise UnusableMediaError(f"unsupported image type {codec!r}; use JPEG, PNG or WebP")
    if not photo and not set(fmt.split(",")) & set(VIDEO_FORMATS):
        raise UnusableMediaError(f"unsupported container {fmt!r}; use MP4, MOV, WebM or MKV")
    if width < 2 or height < 2:
        raise UnusableMediaError(f"the picture could not be read (corrupt or truncated; size {width}x{height})")
    _check_pixels(width, height, max_pixels)
    duration_s = None
    if not photo:
        if stream.duration is not None and stream.time_base is not None:
            duration_s = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration_s = container.duration / 1_000_000
    return MediaInfo("photo" if photo else "video", fmt, codec, width, height, duration_s)


def _timed_frames(container, stream) -> Iterator[tuple[float, av.VideoFrame]]:  # type: ignore[no-untyped-def]
    """(seconds from the first frame, av.VideoFrame) in presentation order."""
    rate = float(stream.average_rate or stream.guessed_rate or 25)
    first: float | None = None
    for i, frame in enumerate(container.decode(stream)):
        t = frame.time if frame.time is not None else i / rate
        first = t if first is None else first
        yield t - first, frame


def read_frames(path: Path, *, fps: int, max_duration_s: float, max_side: int, max_pixels: int,
                progress: Callable[[float], None] | None = None,
                on_frame: Callable[[np.ndarray], None] | None = None) -> tuple[MediaInfo, np.ndarray]:
    """(info, (F, H, W, 3) uint8 RGB) at `fps`, trimmed to max_duration_s; a photo gives F = 1.

    Each output instant takes the nearest decoded frame, so any source rate maps
    onto the output rate without drift. `on_frame` sees each output frame as it
    is made, so face tracking can run while the rest is still decoding.
    """
    import av

    with _open(path, max_pixels) as container:
        info = _info(container, max_pixels)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        width, height = output_size(info.width, info.height, max_side)
        limit = 1 if info.kind == "photo" else max(1, round(max_duration_s * fps))
        expected = limit if info.duration_s is None else min(limit, max(1, int(info.duration_s * fps)))
        out: list[np.ndarray] = []
        prev: tuple[float, av.VideoFrame] | None = None

        def emit_until(t_s: float, frame: av.VideoFrame) -> None:
            """Append `frame` for every output instant up to t_s (converted once)."""
            rgb = None
            while len(out) < limit and len(out) / fps <= t_s:
                if rgb is None:
                    rgb = frame.reformat(width, height, "rgb24").to_ndarray()
                out.append(rgb)
                if on_frame is not None:
                    on_frame(rgb)
                if progress is not None and len(out) % 25 == 0:
                    progress(min(1.0, len(out) / expected))

        try:
            for t_s, frame in _timed_frames(container, stream):
                if prev is not None:
                    emit_until((prev[0] + t_s) / 2, prev[1])
                prev = (t_s, frame)
                if len(out) >= limit:
                    break
        except av.FFmpegError as exc:
            raise UnusableMediaError(f"the file is damaged or truncated after {len(out)} frames: {exc}") from exc
        if prev is None:
            raise UnusableMediaError("no picture could be decoded (truncated or empty file)")
        last_t = prev[0] + 0.5 / max(1.0, float(stream.average_rate or fps))
        emit_until(last_t if info.kind == "video" else 0.0, prev[1])
    frames = np.stack(out)
    logger.info("read %d frame(s) %dx%d from %s %s", len(frames), width, height, info.container, info.codec)
    return info, frames
