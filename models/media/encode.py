"""One frame chunk -> one self-contained fragmented-MP4 media segment (H.264 + AAC).

Every chunk is encoded by fresh encoders and a fresh muxer, writing into an in-memory sink
whose bytes are split on top-level boxes (``ftyp``+``moov`` = init, ``moof``+``mdat`` =
media, the trailing ``mfra`` dropped). A segment depends on nothing but its own record, so
any worker can (re)make any segment and the same chunk always gives the same bytes. What
keeps the segments one stream:

* Video: a fresh x264 starts with an IDR, so every segment starts with a keyframe; equal
  settings give equal SPS/PPS, so the init segment of any chunk serves all of them.
* Audio: AAC packets lie on one job-global grid of 1024 samples (pts = k * 1024, the first,
  at -1024, being the encoder's priming). A chunk carries the packets that start inside its
  own samples (the first chunk also the priming packet, the last one every packet to the
  end). Its encoder starts on that grid, fed with the chunk's audio context before it
  (pre-roll) and after it (look-ahead), so each packet it keeps is encoded from the true
  signal around it and the decoder's overlap-add across segments stays continuous.
* Time: the muxer writes local times from 0; each ``traf``'s ``tfdt`` is then set to the
  job-global decode time and ``mfhd`` to the segment number.
* AAC priming: ``empty_moov`` writes the moov before any packet, hence without an edit
  list (audio would play 64 ms late at 16 kHz); the ``edts/elst`` (media_time = priming)
  is inserted into the audio trak of the init segment.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from models.lipsync.mel import SAMPLE_RATE_HZ
from models.media.mp4_boxes import (
    find_all,
    find_box,
    iter_boxes,
    mime_codecs,
    payload_start,
)

log = logging.getLogger(__name__)

_MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
_AAC_PRIMING = 1024  # FFmpeg's native AAC encoder delay (initial_padding), in samples
_X264 = {
    "tune": "zerolatency",  # no lookahead/B-frames: each frame's packet comes out at once
    "x264-params": "keyint=100000:min-keyint=100000:scenecut=0",  # one IDR: the chunk's first
}


@dataclass(frozen=True)
class EncodeSettings:
    width: int
    height: int
    fps: int = 25
    sample_rate_hz: int = SAMPLE_RATE_HZ  # mono int16 input audio
    crf: int = 23
    preset: str = "veryfast"
    audio_bitrate: int = 64000


def _with_audio_edit_list(init: bytes, media_time: int) -> bytes:
    """Insert ``edts/elst`` (skip ``media_time`` priming samples) into the audio trak."""
    moov = find_box(init, [b"moov"])
    if moov is None or media_time <= 0:
        return init
    for kind, t_off, t_size in iter_boxes(init, moov[1] + 8, sum(moov[1:])):
        hdlr = find_box(init, [b"mdia", b"hdlr"], t_off + 8, t_off + t_size)
        tkhd = find_box(init, [b"tkhd"], t_off + 8, t_off + t_size)
        if kind != b"trak" or not hdlr or not tkhd or init[hdlr[1] + 16 : hdlr[1] + 20] != b"soun":
            continue
        if find_box(init, [b"edts"], t_off + 8, t_off + t_size):
            return init  # the muxer already wrote one
        # elst v0: one entry, segment_duration 0 (= rest of the fragmented track), rate 1.0.
        elst = struct.pack(">I4sIIIiHH", 28, b"elst", 0, 1, 0, media_time, 1, 0)
        edts = struct.pack(">I4s", 8 + len(elst), b"edts") + elst
        ins = sum(tkhd[1:])
        out = bytearray(init[:ins] + edts + init[ins:])
        for off in (moov[1], t_off):  # grow the enclosing boxes (32-bit sizes from ffmpeg)
            struct.pack_into(">I", out, off, struct.unpack_from(">I", out, off)[0] + len(edts))
        return bytes(out)
    return init


class _Sink:
    """Write-only file object for the muxer (no seek: fragmented output never seeks)."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def write(self, data: bytes) -> int:
        self.buf += data
        return len(data)


_AAC_FRAME = 1024  # samples per AAC packet; packet pts lie on a job-global grid of these
MIN_PREROLL_SAMPLES = 2 * _AAC_FRAME  # audio context a chunk needs before its first packet


@dataclass(frozen=True)
class ChunkSegment:
    """One chunk encoded on its own: the job's init segment and this chunk's media segment."""

    init: bytes  # ftyp + moov: equal for every chunk of a job (equal settings)
    media: bytes  # moof + mdat, with job-global decode times
    mime: str  # MSE type with the codecs string
    start_s: float  # presentation start of its video
    duration_s: float  # video duration it covers


def _grid(sample: int) -> int:
    """The first AAC packet pts at or after ``sample``."""
    return -(-sample // _AAC_FRAME) * _AAC_FRAME


def owned_packets(start_sample: int, own: int, is_last: bool) -> tuple[int, int | None]:
    """[first, end) pts of the AAC packets a chunk carries: those starting inside its own
    samples, the priming packet with the first chunk, every packet to the end with the last
    (end None)."""
    first = -_AAC_PRIMING if start_sample == 0 else _grid(start_sample)
    return first, None if is_last else _grid(start_sample + own)


def _audio_packets(s: EncodeSettings, stream: av.AudioStream, audio: np.ndarray, start_sample: int,
                   before: int, after: int, is_last: bool) -> list[av.Packet]:
    """The chunk's owned AAC packets, from a fresh encoder started on the packet grid as early
    as the context allows, so every owned packet is encoded from the true signal around it."""
    own = len(audio) - before - after
    first, end = owned_packets(start_sample, own, is_last)
    begin = max(_grid(start_sample - before), 0)  # job sample where this encoder starts
    if begin > 0 and first - begin < MIN_PREROLL_SAMPLES:  # from the job's start it is exact
        raise ValueError(f"the chunk at sample {start_sample} has {before} samples of audio "
                         f"before it; AAC pre-roll needs {MIN_PREROLL_SAMPLES}")
    stop = before + own if is_last else len(audio)
    pcm = np.ascontiguousarray(audio[begin - (start_sample - before):stop], dtype=np.int16)
    frame = av.AudioFrame.from_ndarray(pcm[None, :], format="s16", layout="mono")
    frame.sample_rate = s.sample_rate_hz
    frame.pts = begin
    frame.time_base = Fraction(1, s.sample_rate_hz)
    packets = [*stream.encode(frame), *stream.encode(None)]
    return [p for p in packets
            if p.pts is not None and p.pts >= first and (end is None or p.pts < end)]


def _set_decode_times(media: bytes, decode_times: dict[int, int], sequence: int) -> bytes:
    """Rewrite each traf's tfdt (track_id -> decode time) and the mfhd sequence number."""
    out = bytearray(media)
    mfhd = find_box(media, [b"moof", b"mfhd"])
    if mfhd is not None:
        struct.pack_into(">I", out, payload_start(media, mfhd) + 4, sequence)
    for traf in find_all(media, [b"moof", b"traf"]):
        inside = (payload_start(media, traf), sum(traf[1:]))
        tfhd, tfdt = find_box(media, [b"tfhd"], *inside), find_box(media, [b"tfdt"], *inside)
        if tfhd is None or tfdt is None:
            continue
        track = struct.unpack_from(">I", media, payload_start(media, tfhd) + 4)[0]
        if track in decode_times:
            at = payload_start(media, tfdt)
            struct.pack_into(">Q" if media[at] == 1 else ">I", out, at + 4, decode_times[track])
    return bytes(out)


def _split(data: bytes) -> tuple[bytes, bytes]:
    """(ftyp+moov, moof+mdat) of one closed single-fragment muxer output (mfra dropped)."""
    init, media = bytearray(), bytearray()
    for kind, off, size in iter_boxes(data):
        if kind in (b"ftyp", b"moov"):
            init += data[off:off + size]
        elif kind in (b"moof", b"mdat"):
            media += data[off:off + size]
    return bytes(init), bytes(media)


def encode_chunk(s: EncodeSettings, frames: np.ndarray, frame_start: int, audio: np.ndarray,
                 before: int, after: int, is_last: bool, sequence: int) -> ChunkSegment:
    """One chunk -> its own media segment, by fresh encoders and a fresh muxer.

    ``frames`` (N, H, W, 3) uint8 start at job frame ``frame_start``; ``audio`` is int16 mono:
    ``before`` samples of the job's audio before the chunk, its N frames' own samples, then
    ``after`` samples after it. ``is_last`` marks the job's last chunk. The same input always
    gives the same bytes, so a chunk re-encoded after a failover is a harmless duplicate.
    """
    n, spf = len(frames), s.sample_rate_hz // s.fps
    if min(s.width, s.height) <= 0 or s.width % 2 or s.height % 2:
        raise ValueError(f"yuv420p needs positive even width/height: {s}")
    if n == 0 or frames.dtype != np.uint8 or frames.shape[1:] != (s.height, s.width, 3):
        raise ValueError(f"frames must be (N>0, {s.height}, {s.width}, 3) uint8: {frames.shape}")
    if audio.ndim != 1 or len(audio) - before - after != n * spf or min(before, after) < 0:
        raise ValueError(f"{n} frames need {before} + {n * spf} + {after} mono samples: "
                         f"{audio.shape}")
    sink = _Sink()
    c = av.open(sink, mode="w", format="mp4", options={"movflags": _MOVFLAGS, "use_editlist": "1"})
    try:
        v = c.add_stream("libx264", rate=s.fps,
                         options={**_X264, "preset": s.preset, "crf": str(s.crf)})
        v.width, v.height, v.pix_fmt = s.width, s.height, "yuv420p"
        v.time_base = Fraction(1, s.fps)
        a = c.add_stream("aac", rate=s.sample_rate_hz, layout="mono")
        a.time_base = Fraction(1, s.sample_rate_hz)
        a.bit_rate = s.audio_bitrate
        packets = _audio_packets(s, a, audio, frame_start * spf, before, after, is_last)
        first_pts = packets[0].pts if packets else None
        for p in packets:  # local times from 0: the decode times are set below
            p.pts -= first_pts
            p.dts -= first_pts
            c.mux(p)
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frames[i]), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, s.fps)
            packets = v.encode(frame)
            if i == n - 1:
                packets += v.encode(None)
            for p in packets:
                p.duration = 1  # x264 leaves it 0; the fragment's last sample needs it
                c.mux(p)
        video_scale, audio_scale = 1 / v.time_base, 1 / a.time_base  # the muxer's timescales
    finally:
        c.close()  # writes the trailer, which flushes the one fragment
    init, media = _split(bytes(sink.buf))
    times = {v.index + 1: int(frame_start * video_scale / s.fps)}
    if first_pts is not None:  # the track's decode time 0 is the priming packet
        times[a.index + 1] = int((first_pts + _AAC_PRIMING) * audio_scale / s.sample_rate_hz)
    init = _with_audio_edit_list(init, _AAC_PRIMING)
    return ChunkSegment(init=init, media=_set_decode_times(media, times, sequence + 1),
                        mime=mime_codecs(init) or "", start_s=frame_start / s.fps,
                        duration_s=n / s.fps)
