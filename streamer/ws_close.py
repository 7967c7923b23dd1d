"""WebSocket refusals: accepted, told why in a WsError, then closed with an application code.

A close sent before the handshake completes reaches the client as HTTP 403, which a
browser reports as 1006 with no reason; so a refused socket is accepted first. A close
frame's reason is at most 123 bytes of UTF-8 (RFC 6455, 5.5): a longer one fails the
close, and the client again sees 1006.
"""

from __future__ import annotations

import contextlib

from starlette.types import Receive, Send

from schemas.ws import WsError

MAX_REASON_BYTES = 123
_ELLIPSIS = "…"


def fit_reason(reason: str) -> str:
    """`reason` cut at a character boundary, with an ellipsis, to fit a close frame."""
    data = reason.encode()
    if len(data) <= MAX_REASON_BYTES:
        return reason
    room = MAX_REASON_BYTES - len(_ELLIPSIS.encode())
    return data[:room].decode("utf-8", "ignore") + _ELLIPSIS


async def refuse(receive: Receive, send: Send, code: int, message: str,
                 retry_after_s: int | None = None, subprotocol: str | None = None) -> None:
    """The ASGI refusal, for middleware that runs before any WebSocket object exists;
    `subprotocol`: one the client offered that must be echoed for it to read the reason."""
    if (await receive())["type"] != "websocket.connect":
        return
    error = WsError(error=message, code=code, retry_after_s=retry_after_s)
    with contextlib.suppress(OSError):  # a client already gone needs no reason
        await send({"type": "websocket.accept", "subprotocol": subprotocol})
        await send({"type": "websocket.send", "text": error.to_json().decode()})
        await send({"type": "websocket.close", "code": code, "reason": fit_reason(message)})
