"""API keys, rate limits, browser origins and body size limits, for HTTP and WebSocket alike
(one ASGI middleware).

Keys arrive as `Authorization: Bearer <key>`, `X-API-Key: <key>` or (still accepted, but
redacted from logs) `?api_key=<key>`; only their sha256 digests are configured, so the
settings never hold a usable secret. Without a key, a ticket or signed URL made for the
request's own path (streamer/tickets.py) lets a browser stream or download. Whoever it is
becomes the request's `Caller` (streamer/tenants.py). Dev mode (no keys) is open and not
limited, but a browser on another site is refused there too: CORS guards what a page may
read, not what its forms or WebSockets may send.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schemas.http import ErrorBody
from streamer import ws_close
from streamer.ratelimit import FailureThrottle, RateLimiter, retry_after_header
from streamer.settings import GatewaySettings
from streamer.tenants import DEV_CALLER, Caller, for_key, set_caller
from streamer.tickets import BadCredential, UrlSigner, ticket_protocol, url_credential

log = logging.getLogger(__name__)
# The player page, its assets, the docs and liveness stay reachable without a key.
PUBLIC_PREFIXES = ("/static/", "/docs")
PUBLIC_PATHS = {"/", "/health", "/openapi.json", "/favicon.ico"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# A WebSocket is refused with 4000 + the status the same refusal gets over HTTP.
WS_CODE_UNAUTHORIZED, WS_CODE_FORBIDDEN, WS_CODE_RATE_LIMITED = 4401, 4403, 4429




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


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def foreign_origin(scope: Scope, allowed: tuple[str, ...]) -> str | None:
    """The Origin of a browser's WebSocket or unsafe request from a site that is neither this
    one (its Host or X-Forwarded-Host) nor in `allowed`; None when the request may go on."""
    if scope["type"] == "http" and scope["method"] in SAFE_METHODS:
        return None
    headers = Headers(scope=scope)
    origin = headers.get("origin")
    if origin is None or origin in allowed or "*" in allowed:
        return None  # not from a browser page, or from an allowed one
    hosts = {h.split(",")[0].strip().lower() for h in (headers.get("host"), headers.get("x-forwarded-host")) if h}
    return None if urlsplit(origin).netloc.lower() in hosts else origin


class _BodyTooLarge(Exception):
    pass


class GuardMiddleware:
    def __init__(self, app: ASGIApp, settings: GatewaySettings, signer: UrlSigner | None = None) -> None:
        self.app = app
        self.settings = settings
        self.signer = signer or UrlSigner.create(settings.signing_secret, settings.ticket_ttl_s,
                                                 settings.signed_url_ttl_s, warn=False)
        self.limiter = RateLimiter(settings.rate_per_s, settings.rate_burst)
        self.failures = FailureThrottle(settings.auth_failures_max, settings.auth_failures_window_s)

    def _identity(self, scope: Scope) -> tuple[Caller | None, str | None]:
        """(caller, refusal reason): who is calling, or why they may not. A wrong key, ticket or
        signature counts against the client's address; a missing one does not (a page before
        its key is typed)."""
        if not self.settings.auth_required:
            return DEV_CALLER, None
        key = presented_key(scope)
        if key is None:
            try:
                if url_credential(self.signer, scope):
                    return Caller(f"url:{client_address(scope)}", by_url=True), None
            except BadCredential as exc:
                self.failures.record(client_address(scope))
                return None, str(exc)
            return None, "an API key is required (Authorization: Bearer or X-API-Key), or a ticket"
        digest = key_hash(key)
        if not any(hmac.compare_digest(digest, known) for known in self.settings.api_key_hashes):
            self.failures.record(client_address(scope))
            return None, "invalid API key"
        return for_key(digest, self.settings.admin_key_hashes), None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        public = path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)
        if scope["type"] not in ("http", "websocket") or public:
            return await self.app(scope, receive, send)
        if (origin := foreign_origin(scope, self.settings.cors_origins)) is not None:
            return await self._refuse(scope, receive, send, 403, f"requests from {origin} are not allowed "
                                      "(see AVATAR_CORS_ORIGINS)", WS_CODE_FORBIDDEN)
        if self.settings.auth_required and (wait_s := self.failures.wait_s(client_address(scope))) > 0:
            return await self._refuse(scope, receive, send, 429, "too many invalid API keys from this address",
                                      WS_CODE_RATE_LIMITED, wait_s)
        who, refusal = self._identity(scope)
        if refusal is not None:
            return await self._refuse(scope, receive, send, 401, refusal, WS_CODE_UNAUTHORIZED)
        assert who is not None
        set_caller(scope, who)
        wait_s = self.limiter.take(who.tenant) if self.settings.auth_required else 0.0
        if wait_s > 0:
            return await self._refuse(scope, receive, send, 429, "rate limit exceeded", WS_CODE_RATE_LIMITED, wait_s)
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
                      ws_code: int, wait_s: float = 0.0) -> None:
        retry_after = retry_after_header(wait_s) if wait_s > 0 else None
        if scope["type"] == "websocket":
            message = reason if retry_after is None else f"{reason}; retry after {retry_after} s"
            return await ws_close.refuse(receive, send, ws_code, message,
                                         None if retry_after is None else int(retry_after),
                                         ticket_protocol(scope))
        detail = None if retry_after is None else {"retry_after_s": int(retry_after)}
        body = ErrorBody(error=reason, detail=detail).to_json()
        raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if status == 401:
            raw.append((b"www-authenticate", b'Bearer realm="avatar-stream"'))
        if retry_after is not None:
            raw.append((b"retry-after", retry_after.encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})
