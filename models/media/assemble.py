"""Final-file assembly: fragmented init + media segments -> one faststart MP4, and probing.

Packets are copied, never re-encoded, so the kept file is bit-identical media to what was
streamed. The mov demuxer applies the init segment's audio edit list (AAC priming) and the
mp4 muxer writes it back as a regular ``elst``, so priming stays hidden in the final file.
``faststart`` needs a seekable real file (the muxer rewrites the file to move ``moov`` to the
front), hence the temp file beside ``out_path`` and ``os.replace`` for atomicity.
"""

from __future__ import annotations

import io
import logging
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import av

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MediaInfo:
    video_duration_s: float
    audio_duration_s: float
    video_frames: int
    width: int
    height: int
    fps: float
    audio_sample_rate_hz: int


def remux_to_mp4(init_segment: bytes, segments: Iterable[bytes], out_path: Path) -> MediaInfo:
    """Copy the packets of init + segments into a faststart MP4 at ``out_path``."""
    out_path = Path(out_path)
    src = io.BytesIO(init_segment + b"".join(segments))
    # Unique name in the same directory (same filesystem for os.replace); created by the
    # muxer itself so it gets normal umask permissions, unlike mkstemp's 0600.
    tmp = out_path.with_name(f".{out_path.name}.{uuid.uuid4().hex}.tmp")
    try:
        inp = av.open(src, mode="r", format="mp4")
        try:
            out = av.open(str(tmp), mode="w", format="mp4", options={"movflags": "faststart"})
            try:
                streams = [s for s in inp.streams if s.type in ("video", "audio")]
                mapping = {s.index: out.add_stream_from_template(s) for s in streams}
                for packet in inp.demux(streams):
                    if packet.dts is None:  # demuxer's end-of-stream marker
                        continue
                    packet.stream = mapping[packet.stream.index]
                    out.mux(packet)
            finally:
                out.close()
        finally:
            inp.close()
        os.replace(tmp, out_path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    info = probe(out_path)
    log.info("assembled %s: %s", out_path, info)
    return info


def probe(path: Path) -> MediaInfo:
    """Durations as a player sees them: container stream durations (edit lists applied).

    Decoded sample counts would include AAC priming/padding that players never show.
    """
    container = av.open(str(path), mode="r")
    try:
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None

        def seconds(stream: av.stream.Stream | None) -> float:
            if stream is None or stream.duration is None or stream.time_base is None:
                return 0.0
            return float(stream.duration * stream.time_base)

        frames = 0
        if video is not None:
            frames = video.frames
            if not frames:  # fragmented files carry no sample table: count packets
                frames = sum(1 for p in container.demux(video) if p.dts is not None)
        rate = video.average_rate if video is not None else None
        return MediaInfo(
            video_duration_s=seconds(video),
            audio_duration_s=seconds(audio),
            video_frames=frames,
            width=video.codec_context.width if video is not None else 0,
            height=video.codec_context.height if video is not None else 0,
            fps=float(rate) if rate else 0.0,
            audio_sample_rate_hz=audio.codec_context.sample_rate if audio is not None else 0,
        )
    finally:
        container.close()
