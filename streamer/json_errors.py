"""Every error a client sees is JSON: a 4xx or 5xx that is not becomes an ErrorBody.

Handlers answer errors through ApiError, but some responses are made elsewhere in plain
text: FileResponse's Range errors (400, 416) and the CORS middleware's refused preflight.
Their status and other headers (Content-Range, CORS) stay; the text becomes `error`.
"""

from __future__ import annotations

from http import HTTPStatus

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schemas.http import ErrorBody
from streamer.api import is_json


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error"


class JsonErrorsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "HEAD":
            return await self.app(scope, receive, send)
        held: Message | None = None  # the start of a plain-text error, until its body is in
        text = bytearray()

        async def rewriting_send(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                headers = MutableHeaders(raw=list(message["headers"]))
                if message["status"] >= 400 and not is_json(headers.get("content-type", "")):
                    held = message
                    return
            elif held is not None and message["type"] == "http.response.body":
                text.extend(message.get("body", b""))
                if message.get("more_body", False):
                    return
                await self._send_json(send, held, text.decode("utf-8", "replace").strip())
                return
            await send(message)

        await self.app(scope, receive, rewriting_send)

    @staticmethod
    async def _send_json(send: Send, start: Message, text: str) -> None:
        status = int(start["status"])
        body = ErrorBody(error=text or _phrase(status)).to_json()
        headers = MutableHeaders(raw=list(start["headers"]))
        headers["content-type"] = "application/json"
        headers["content-length"] = str(len(body))
        await send({"type": "http.response.start", "status": status, "headers": headers.raw})
        await send({"type": "http.response.body", "body": body})
