"""The WebSocket protocol: JSON control messages and binary media messages.

A binary message is a fixed 21-byte big-endian header then the MP4 bytes:
kind (u8: 0 init, 1 media), seq (u32), start_s (f64), duration_s (f64).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from schemas.base import Message
from schemas.http import JobStatus
from schemas.pipeline import WordTiming

_HEADER = struct.Struct(">BIdd")
KIND_INIT, KIND_MEDIA = 0, 1


@dataclass(frozen=True)
class MediaMessage:
    kind: int
    seq: int
    start_s: float
    duration_s: float
    data: bytes

    def pack(self) -> bytes:
        return _HEADER.pack(self.kind, self.seq, self.start_s, self.duration_s) + self.data

    @classmethod
    def unpack(cls, message: bytes) -> MediaMessage:
        kind, seq, start_s, duration_s = _HEADER.unpack_from(message)
        return cls(kind, seq, start_s, duration_s, bytes(message[_HEADER.size:]))


class WsStatus(Message):
    type: Literal["status"] = "status"
    status: JobStatus


class WsInit(Message):
    """Sent before the init segment so the client can create its SourceBuffer."""

    type: Literal["init"] = "init"
    mime: str | None


class WsEnd(Message):
    type: Literal["end"] = "end"
    segments: int
    state: str


class WsCaptions(Message):
    """Word timings of one audio chunk (seq matches the media segment it is spoken in)."""

    type: Literal["captions"] = "captions"
    seq: int
    words: list[WordTiming]


class WsError(Message):
    """Sent before the server closes the socket; `code` repeats the close code.

    The close frame's reason is this `error` cut to 123 bytes; here it is whole. Without a
    code, the socket stays open: a live session's answer to a message it could not take.
    """

    type: Literal["error"] = "error"
    error: str
    code: int | None = None
    retry_after_s: int | None = Field(None, description="with code 4429: seconds to wait before "
                                                        "connecting again")
