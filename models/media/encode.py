"""Per-job streaming encoder: RGB frames + int16 audio -> fragmented MP4 (H.264 + AAC).

Design (why it looks like this):

* One persistent mp4 muxer and encoder pair per job, writing into an in-memory sink whose
  bytes are split on top-level boxes (``ftyp``+``moov`` = init, ``moof``+``mdat`` = media,
  trailing ``mfra`` dropped): AAC stays continuous and every ``tfdt`` is job-global.
* ``frag_keyframe+empty_moov+default_base_moof`` and a forced IDR per chunk (x264 adds none:
  huge GOP, no scene-cut) give one fragment per chunk. The muxer cuts a fragment only when
  the *next* keyframe arrives (or at the trailer) and PyAV has no ``av_write_frame(NULL)``
  flush, so chunk k's segment is returned by ``add_chunk(k+1)`` / ``finish()``. Rejected:
  a muxer per chunk (streams rebuilt from encoders, moov/edit-list/``frag_discont``
  juggling) and zero-size "flush" packets (held in libavformat's interleaving queue).
* AAC priming: audio pts start at 0, so the priming packet has pts -1024. ``empty_moov``
  writes the moov before any packet, hence without edit list (audio would play 64 ms late
  at 16 kHz); we insert the ``edts/elst`` (media_time = priming) into the audio trak of the
  init segment - the box FFmpeg writes with ``delay_moov``, but ready after chunk 0.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from models.lipsync.mel import SAMPLE_RATE_HZ
from models.media.mp4_boxes import find_box, fragment_tfdt, iter_boxes, mime_codecs

log = logging.getLogger(__name__)

_MOVFLAGS = "frag_keyframe+empty_moov+default_base_moof"
_AAC_PRIMING = 1024  # FFmpeg's native AAC encoder delay (initial_padding), in samples
_X264 = {
    "tune": "zerolatency",  # no lookahead/B-frames: each frame's packet comes out at once
    "forced-idr": "1",  # pict_type I -> IDR, so every chunk can start a fragment
    "x264-params": "keyint=100000:min-keyint=100000:scenecut=0",  # no IDRs of its own
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


@dataclass(frozen=True)
class EncodedSegment:
    index: int  # 0,1,2... media segment number within the job
    data: bytes  # one or more complete moof+mdat pairs
    start_s: float  # presentation start of its video
    duration_s: float  # video duration it covers


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


class SegmentEncoder:
    """One job's stream; keeps codec state across chunks so audio is continuous."""

    def __init__(self, settings: EncodeSettings) -> None:
        if min(settings.width, settings.height) <= 0 or settings.width % 2 or settings.height % 2:
            raise ValueError(f"yuv420p needs positive even width/height: {settings}")
        self._s = settings
        self._sink = _Sink()
        self._container: av.container.OutputContainer | None = None
        self._video: av.VideoStream | None = None
        self._audio: av.AudioStream | None = None
        self._init: bytes | None = None
        self._pending: list[tuple[int, bytes]] = []  # (chunk index, moof+mdat) not handed out
        self._chunks: list[tuple[int, int]] = []  # (start_frame, n_frames) per chunk
        self._frames = 0
        self._samples = 0
        self._done = False

    @property
    def init_segment(self) -> bytes | None:
        return self._init

    @property
    def mime_codecs(self) -> str | None:
        return mime_codecs(self._init) if self._init else None

    def _open(self) -> None:
        s = self._s
        # use_editlist=1: keep pts as given (audio priming at -1024) instead of shifting every
        # track by the priming; the matching elst is patched into the init segment.
        opts = {"movflags": _MOVFLAGS, "use_editlist": "1"}
        c = av.open(self._sink, mode="w", format="mp4", options=opts)
        try:
            opts = {**_X264, "preset": s.preset, "crf": str(s.crf)}
            v = c.add_stream("libx264", rate=s.fps, options=opts)
            v.width, v.height, v.pix_fmt = s.width, s.height, "yuv420p"
            v.time_base = Fraction(1, s.fps)
            a = c.add_stream("aac", rate=s.sample_rate_hz, layout="mono")
            a.time_base = Fraction(1, s.sample_rate_hz)
            a.bit_rate = s.audio_bitrate
        except Exception:
            c.close()
            raise
        self._container, self._video, self._audio = c, v, a

    def add_chunk(self, frames: np.ndarray, audio: np.ndarray) -> list[EncodedSegment]:
        """Encode one chunk; returns the segments completed so far (normally chunk k-1's)."""
        s = self._s
        if self._done:
            raise RuntimeError("encoder already finished or closed")
        n = len(frames)
        if frames.dtype != np.uint8 or frames.shape[1:] != (s.height, s.width, 3):
            raise ValueError(f"frames must be (N, {s.height}, {s.width}, 3) uint8: {frames.shape}")
        if audio.ndim != 1 or len(audio) * s.fps != n * s.sample_rate_hz:
            raise ValueError(f"need {n} * {s.sample_rate_hz} / {s.fps} mono samples: {audio.shape}")
        if n == 0:
            return []
        if self._container is None:
            self._open()
        c, v, a = self._container, self._video, self._audio
        assert c is not None and v is not None and a is not None
        self._chunks.append((self._frames, n))
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frames[i]), format="rgb24")
            frame.pts = self._frames + i
            frame.time_base = Fraction(1, s.fps)  # stream.time_base becomes the muxer's
            if i == 0:
                frame.pict_type = av.video.frame.PictureType.I  # each chunk starts a fragment
            self._mux(v.encode(frame))
        self._frames += n
        aframe = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(audio, dtype=np.int16)[None, :], format="s16", layout="mono"
        )
        aframe.sample_rate = s.sample_rate_hz
        aframe.pts = self._samples
        aframe.time_base = Fraction(1, s.sample_rate_hz)
        self._samples += len(audio)
        self._mux(a.encode(aframe))
        return self._collect(final=False)

    def _mux(self, packets: list[av.Packet]) -> None:
        assert self._container is not None
        for p in packets:
            if p.stream.type == "video":
                p.duration = 1  # x264 leaves it 0; the fragment's last sample needs it
            elif p.pts is not None and p.pts < 0 and p.pts != -_AAC_PRIMING:
                log.warning("unexpected AAC priming %d: edit list assumes %d", -p.pts, _AAC_PRIMING)
            self._container.mux(p)

    def _fragment_chunk(self, frag: bytes) -> int:
        """Chunk index of a moof+mdat pair, from its video tfdt (global frame time)."""
        assert self._video is not None
        start = fragment_tfdt(frag, track_id=self._video.index + 1)
        if start is None:  # audio-only fragment: belongs with the newest chunk
            return len(self._chunks) - 1
        frame = round(start * self._video.time_base * self._s.fps)
        return max(k for k, (first, _) in enumerate(self._chunks) if first <= frame)

    def _collect(self, final: bool) -> list[EncodedSegment]:
        """Split the sink into init/fragments; hand out segments of chunks no longer open."""
        buf = bytes(self._sink.buf)
        boxes = list(iter_boxes(buf))
        used = i = 0
        while i < len(boxes):
            kind, off, size = boxes[i]
            nxt = boxes[i + 1] if i + 1 < len(boxes) else None
            if nxt and (kind, nxt[0]) in ((b"ftyp", b"moov"), (b"moof", b"mdat")):
                data, used, i = buf[off : sum(nxt[1:])], sum(nxt[1:]), i + 2
                if kind == b"ftyp":
                    self._init = _with_audio_edit_list(data, _AAC_PRIMING)
                else:
                    self._pending.append((self._fragment_chunk(data), data))
            elif kind == b"mfra":  # trailer index: not part of the MSE stream
                used, i = off + size, i + 1
            else:
                break  # incomplete pair: wait for more bytes
        del self._sink.buf[:used]
        # Only forced IDRs cut fragments, so a complete fragment of an earlier chunk means
        # that chunk is done; the current chunk's fragment stays open until the next IDR.
        open_chunk = len(self._chunks) if final else len(self._chunks) - 1
        fps, out = self._s.fps, []
        for k in sorted({c for c, _ in self._pending if c < open_chunk}):
            data = b"".join(d for c, d in self._pending if c == k)
            first, n = self._chunks[k]
            out.append(EncodedSegment(k, data, start_s=first / fps, duration_s=n / fps))
        self._pending = [(c, d) for c, d in self._pending if c >= open_chunk]
        return out

    def finish(self) -> list[EncodedSegment]:
        """Flush encoders and muxer; returns the remaining segment(s). Idempotent."""
        if self._done:
            return []
        self._done = True
        c = self._container
        if c is None:
            return []
        try:
            assert self._video is not None and self._audio is not None
            self._mux(self._video.encode(None))
            self._mux(self._audio.encode(None))
        finally:
            self._container = None
            c.close()  # writes the trailer: flushes the last fragment
        return self._collect(final=True)

    def close(self) -> None:
        """Release codec/muxer resources without producing output (cancel)."""
        self._done = True
        c, self._container = self._container, None
        if c is not None:
            try:
                c.close()
            except Exception:  # cancelling: output is discarded anyway
                log.debug("ignored error while closing cancelled encoder", exc_info=True)
        self._sink.buf.clear()
        self._pending.clear()
