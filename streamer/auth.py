"""API keys, rate limits and body size limits, for HTTP and WebSocket alike (one ASGI middleware).

Keys arrive as `Authorization: Bearer <key>`, `X-API-Key: <key>` or, for browsers'
WebSockets, `?api_key=<key>`; only their sha256 digests are configured, so the
settings never hold a usable secret. Dev mode (no keys) is open and not limited.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schemas.http import ErrorBody
from streamer.ratelimit import RateLimiter, retry_after_header
from streamer.settings import GatewaySettings

log = logging.getLogger(__name__)
# The player page, its assets, the docs and liveness stay reachable without a key.
PUBLIC_PREFIXES = ("/static/", "/docs")
PUBLIC_PATHS = {"/", "/health", "/openapi.json", "/favicon.ico"}
WS_CODE_UNAUTHORIZED, WS_CODE_RATE_LIMITED = 4401, 4429


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def presented_key(scope: Scope) -> str | None:
    headers = Headers(scope=scope)
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer " and auth[7:].strip():
        return auth[7:].strip()
    if key := headers.get("x-api-key"):
        return key.strip()
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return query["api_key"][0] if query.get("api_key") else None


class _BodyTooLarge(Exception):
    pass


class GuardMiddleware:
    def __init__(self, app: ASGIApp, settings: GatewaySettings) -> None:
        self.app = app
        self.settings = settings
        self.limiter = RateLimiter(settings.rate_per_s, settings.rate_burst)

    def _identity(self, scope: Scope) -> tuple[str | None, str | None]:
        """(key hash, refusal reason): who is calling, or why they may not."""
        if not self.settings.auth_required:
            return None, None
        key = presented_key(scope)
        if key is None:
            return None, "an API key is required (Authorization: Bearer, X-API-Key or ?api_key=)"
        digest = key_hash(key)
        if not any(hmac.compare_digest(digest, known) for known in self.settings.api_key_hashes):
            return None, "invalid API key"
        return digest, None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        public = path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)
        if scope["type"] not in ("http", "websocket") or public:
            return await self.app(scope, receive, send)
        who, refusal = self._identity(scope)
        if refusal is not None:
            return await self._refuse(scope, receive, send, 401, refusal, WS_CODE_UNAUTHORIZED)
        wait_s = self.limiter.take(who) if who is not None else 0.0
        if wait_s > 0:
            return await self._refuse(scope, receive, send, 429, "rate limit exceeded", WS_CODE_RATE_LIMITED,
                                      {"retry-after": retry_after_header(wait_s)})
        if scope["type"] == "websocket":
            return await self.app(scope, receive, send)
        await self._limited_body(scope, receive, send)

    async def _limited_body(self, scope: Scope, receive: Receive, send: Send) -> None:
        """413 when the body (declared or streamed) is over the limit, before a handler buffers it."""
        limit = self.settings.max_body_bytes
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            return await self._refuse(scope, receive, send, 413, f"request body over {limit} bytes", 0)
        seen = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _BodyTooLarge
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _BodyTooLarge:
            if not started:
                await self._refuse(scope, receive, send, 413, f"request body over {limit} bytes", 0)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int, reason: str,
                      ws_code: int, headers: dict[str, str] | None = None) -> None:
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": ws_code, "reason": reason})
            return
        body = ErrorBody(error=reason).to_json()
        raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if status == 401:
            raw.append((b"www-authenticate", b'Bearer realm="avatar-stream"'))
        raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})
