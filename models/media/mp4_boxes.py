"""Just enough ISO-BMFF (MP4) box reading for fragmented streams, without a media library.

The encoder splits its output on top-level boxes, finds a fragment's chunk from its
video tfdt and reads the codecs string; the gateway reads that string only for an init
segment stored without its metadata.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

Box = tuple[bytes, int, int]  # (type, offset of the box, size including its header)
DEFAULT_MIME = 'video/mp4; codecs="avc1.64001f, mp4a.40.2"'


def iter_boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[Box]:
    """Yield the complete boxes in ``data[start:end]``; stops at a partial one."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        if size == 1 and pos + 16 <= end:
            size = struct.unpack_from(">Q", data, pos + 8)[0]
        if size < 8 or pos + size > end:  # size 0 ("to EOF") is never complete in a stream
            return
        yield kind, pos, size
        pos += size


def payload_start(data: bytes, box: Box) -> int:
    """Where a box's contents begin (after an 8- or 16-byte header)."""
    return box[1] + (16 if struct.unpack_from(">I", data, box[1])[0] == 1 else 8)


def find_all(data: bytes, path: list[bytes], start: int = 0, end: int | None = None) -> list[Box]:
    """Every box at ``path`` (e.g. ``[b"moof", b"traf"]``) inside ``data[start:end]``."""
    found: list[Box] = []
    for box in iter_boxes(data, start, end):
        if box[0] == path[0]:
            found += [box] if len(path) == 1 else find_all(data, path[1:], payload_start(data, box), sum(box[1:]))
    return found


def find_box(data: bytes, path: list[bytes], start: int = 0, end: int | None = None) -> Box | None:
    """The first box at ``path`` inside ``data[start:end]``."""
    found = find_all(data, path, start, end)
    return found[0] if found else None


def _tfdt(data: bytes, traf: Box) -> int:
    tfdt = find_box(data, [b"tfdt"], payload_start(data, traf), sum(traf[1:]))
    if tfdt is None:
        return 0
    p = payload_start(data, tfdt)
    return int(struct.unpack_from(">Q" if data[p] == 1 else ">I", data, p + 4)[0])


def _traf_track(data: bytes, traf: Box) -> int | None:
    tfhd = find_box(data, [b"tfhd"], payload_start(data, traf), sum(traf[1:]))
    return None if tfhd is None else int(struct.unpack_from(">I", data, payload_start(data, tfhd) + 4)[0])


def fragment_tfdt(fragment: bytes, track_id: int = 1) -> int | None:
    """baseMediaDecodeTime of ``track_id`` in a moof (in that track's timescale)."""
    for traf in find_all(fragment, [b"moof", b"traf"]):
        if _traf_track(fragment, traf) == track_id:
            return _tfdt(fragment, traf)
    return None


def mime_codecs(init: bytes) -> str | None:
    """MSE type with the RFC 6381 codecs string, from the init segment's avcC and esds boxes."""
    codecs = []
    i = init.find(b"avcC")
    if 0 <= i and i + 8 <= len(init):
        codecs.append("avc1." + init[i + 5 : i + 8].hex())
    i = init.find(b"esds")
    if i >= 0:
        j = init.find(b"\x05", i + 8)  # DecSpecificInfo tag; AudioSpecificConfig follows
        while 0 <= j < len(init) - 1 and init[j + 1] & 0x80:  # skip expandable length bytes
            j += 1
        codecs.append(f"mp4a.40.{init[j + 2] >> 3}" if 0 <= j < len(init) - 2 else "mp4a.40.2")
    return f'video/mp4; codecs="{", ".join(codecs)}"' if codecs else None
