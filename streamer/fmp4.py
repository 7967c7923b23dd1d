"""Just enough fragmented-MP4 reading for the relay, without a media library.

The MSE type of an init segment (`avc1.PPCCLL` from its avcC box), and a media
segment's place on the timeline (video track's tfdt and sample durations), so
segments replayed from the store keep their start_s/duration_s.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

DEFAULT_MIME = 'video/mp4; codecs="avc1.64001f, mp4a.40.2"'
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"moof", b"traf", b"mvex"}


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) of each box in data[start:end]."""
    while start + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, start)
        header = 8
        if size == 1:
            size, header = struct.unpack_from(">Q", data, start + 8)[0], 16
        elif size == 0:
            size = end - start
        if size < header or start + size > end:
            return
        yield kind, start + header, start + size
        start += size


def _find(data: bytes, path: list[bytes], start: int = 0,
          end: int | None = None) -> list[tuple[int, int]]:
    """Payload spans of every box at `path` (e.g. [moov, trak])."""
    end = len(data) if end is None else end
    found = []
    for kind, payload, box_end in _boxes(data, start, end):
        if kind == path[0]:
            found += [(payload, box_end)] if len(path) == 1 else _find(data, path[1:], payload, box_end)
    return found


def mime_of(init: bytes) -> str:
    i = init.find(b"avcC")
    if i < 0 or i + 8 > len(init):
        return DEFAULT_MIME
    profile, compat, level = init[i + 5], init[i + 6], init[i + 7]
    audio = ", mp4a.40.2" if b"mp4a" in init else ""
    return f'video/mp4; codecs="avc1.{profile:02x}{compat:02x}{level:02x}{audio}"'


def _video_track(init: bytes) -> tuple[int, int] | None:
    """(track_id, timescale) of the video track."""
    for payload, end in _find(init, [b"moov", b"trak"]):
        hdlr = _find(init, [b"mdia", b"hdlr"], payload, end)
        if not hdlr or init[hdlr[0][0] + 8:hdlr[0][0] + 12] != b"vide":
            continue
        tkhd, mdhd = _find(init, [b"tkhd"], payload, end), _find(init, [b"mdia", b"mdhd"], payload, end)
        if not tkhd or not mdhd:
            return None
        t, m = tkhd[0][0], mdhd[0][0]
        track_id = struct.unpack_from(">I", init, t + (20 if init[t] == 1 else 12))[0]
        timescale = struct.unpack_from(">I", init, m + (20 if init[m] == 1 else 12))[0]
        return track_id, timescale
    return None


def _trun_duration(data: bytes, trun: int, default_duration: int) -> int:
    flags = int.from_bytes(data[trun + 1:trun + 4], "big")
    count = struct.unpack_from(">I", data, trun + 4)[0]
    if not flags & 0x100:
        return count * default_duration
    pos = trun + 8 + (4 if flags & 0x1 else 0) + (4 if flags & 0x4 else 0)
    stride = 4 * sum(1 for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit)
    return sum(struct.unpack_from(">I", data, pos + i * stride)[0] for i in range(count))


def timing_of(init: bytes, segment: bytes) -> tuple[float, float]:
    """(start_s, duration_s) of the video in a media segment; (0, 0) when it cannot be read."""
    track = _video_track(init)
    if track is None or track[1] == 0:
        return 0.0, 0.0
    track_id, timescale = track
    for payload, end in _find(segment, [b"moof", b"traf"]):
        tfhd = _find(segment, [b"tfhd"], payload, end)
        if not tfhd or struct.unpack_from(">I", segment, tfhd[0][0] + 4)[0] != track_id:
            continue
        t = tfhd[0][0]
        flags = int.from_bytes(segment[t + 1:t + 4], "big")
        offset = t + 8 + (8 if flags & 0x1 else 0) + (4 if flags & 0x2 else 0)
        default_duration = struct.unpack_from(">I", segment, offset)[0] if flags & 0x8 else 0
        tfdt = _find(segment, [b"tfdt"], payload, end)
        start = 0
        if tfdt:
            d = tfdt[0][0]
            start = struct.unpack_from(">Q" if segment[d] == 1 else ">I", segment, d + 4)[0]
        truns = _find(segment, [b"trun"], payload, end)
        duration = sum(_trun_duration(segment, p, default_duration) for p, _ in truns)
        return start / timescale, duration / timescale
    return 0.0, 0.0
